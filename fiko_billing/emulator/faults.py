"""Injected delivery faults: drop, duplicate, delay or reorder the next matching deliveries.

They exist so a webhook receiver's idempotency and ordering guards can be
tested against what Stripe documents it may do: deliver twice, deliver out
of order, deliver late, or not at all until a retry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

ACTIONS = ("drop", "duplicate", "delay", "reorder")


@dataclass
class Fault:
    action: str
    count: int = 1
    types: list[str] | None = None
    seconds: float = 0.0
    applied: list[str] = field(default_factory=list)

    def matches(self, event_type: str) -> bool:
        if self.count <= 0:
            return False
        return self.types is None or any(fnmatchcase(event_type, t) for t in self.types)

    def public(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "remaining": self.count,
            "types": self.types,
            "seconds": self.seconds,
            "applied_to": list(self.applied),
        }


def parse_fault(data: dict[str, Any]) -> Fault:
    """A fault from the control endpoint's JSON; ValueError names what is wrong."""
    action = data.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    count = int(data.get("count", 1))
    if count < 1:
        raise ValueError("count must be at least 1")
    types = data.get("types")
    if types is not None and (
        not isinstance(types, list) or not all(isinstance(t, str) for t in types)
    ):
        raise ValueError("types must be a list of event types")
    seconds = float(data.get("seconds", 0))
    if action == "delay" and seconds <= 0:
        raise ValueError("delay needs seconds > 0")
    return Fault(action, count, types or None, seconds)


class FaultBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, event_type: str, delivery_id: str) -> Fault | None:
        """The first armed fault for this event type, used up by one delivery."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(event_type):
                    fault.count -= 1
                    fault.applied.append(delivery_id)
                    return fault
        return None

    def public(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.public() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
