"""Webhook delivery: signed as Stripe signs, sent in order, retried with back-off.

One background thread sends deliveries one at a time, earliest due first
(creation order for fresh events). A non-2xx answer or a connection error
schedules a retry after the next delay of ``retry_delays``; after
``max_attempts`` the delivery is ``failed``. Faults from ``FaultBook`` are
applied when an event is queued.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fiko_billing.emulator.faults import Fault, FaultBook
from fiko_billing.emulator.store import Obj

PENDING = "pending"
HELD = "held"
DELIVERED = "delivered"
FAILED = "failed"
DROPPED = "dropped"

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def sign(payload: bytes, secrets: tuple[str, ...], timestamp: int) -> str:
    """The ``Stripe-Signature`` header: ``t=<unix>,v1=<hex HMAC-SHA256 of "t.payload">``.

    One ``v1`` per secret: while a rolled secret is still valid, Stripe signs
    with the new and the old one, and a receiver accepts either.
    """
    signed = f"{timestamp}.".encode() + payload
    digests = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={d}" for d in digests)])


@dataclass
class Delivery:
    id: str
    seq: int
    event_id: str
    event_type: str
    url: str
    secrets: tuple[str, ...] = field(repr=False)
    payload: bytes = field(repr=False)
    due: float = 0.0
    state: str = PENDING
    attempts: int = 0
    status_codes: list[int | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fault: str | None = None
    delivered_at: float | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event_id,
            "type": self.event_type,
            "url": self.url,
            "state": self.state,
            "attempts": self.attempts,
            "status_codes": list(self.status_codes),
            "errors": list(self.errors),
            "fault": self.fault,
        }


Targets = Callable[[Obj], list[tuple[str, tuple[str, ...]]]]


class Dispatcher:
    def __init__(
        self,
        targets: Targets,
        *,
        retry_delays: tuple[float, ...] = (1.0, 5.0, 25.0),
        max_attempts: int = 4,
        timeout: float = 10.0,
        on_delivered: Callable[[str], None] | None = None,
    ) -> None:
        self._targets = targets
        self.retry_delays = retry_delays
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._on_delivered = on_delivered
        self.faults = FaultBook()
        self._cond = threading.Condition()
        self._deliveries: list[Delivery] = []
        self._seq = 0
        self._paused = False
        self._stopping = False
        self._sending: Delivery | None = None
        self._thread: threading.Thread | None = None
        # Direct connections: a proxy from the environment must not see local webhooks.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # ------------------------------------------------------------------ EventSink

    def targets(self, event: Obj) -> int:
        return len(self._targets(event))

    def enqueue(self, event: Obj, payload: bytes) -> None:
        with self._cond:
            for url, secrets in self._targets(event):
                self._seq += 1
                delivery = Delivery(
                    f"whd_{self._seq}",
                    self._seq,
                    event["id"],
                    event["type"],
                    url,
                    secrets,
                    payload,
                    due=time.monotonic(),
                )
                self._deliveries.append(delivery)
                fault = self.faults.take(event["type"], delivery.id)
                if fault is not None:
                    self._apply(delivery, fault)
            self._cond.notify_all()

    def _apply(self, delivery: Delivery, fault: Fault) -> None:
        delivery.fault = fault.action
        if fault.action == "drop":
            delivery.state = DROPPED
        elif fault.action == "delay":
            delivery.due += fault.seconds
        elif fault.action == "reorder":
            delivery.state = HELD
        elif fault.action == "duplicate":
            self._seq += 1
            twin = Delivery(
                f"whd_{self._seq}",
                self._seq,
                delivery.event_id,
                delivery.event_type,
                delivery.url,
                delivery.secrets,
                delivery.payload,
                due=delivery.due,
                fault="duplicate",
            )
            self._deliveries.append(twin)

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="emulator-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)
            self._thread = None

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    def add_fault(self, fault: Fault) -> None:
        self.faults.add(fault)

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [d.public() for d in sorted(self._deliveries, key=lambda d: d.seq)]

    def reset(self) -> None:
        with self._cond:
            self._deliveries.clear()
            self._paused = False
            self.faults.clear()
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until nothing is left to send; held (reordered) deliveries are let go."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._paused:
                raise RuntimeError("deliveries are paused: resume them before flushing")
            while True:
                waiting = [d for d in self._deliveries if d.state == PENDING]
                if not waiting and self._sending is None:
                    held = [d for d in self._deliveries if d.state == HELD]
                    if not held:
                        return
                    self._release_held()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(waiting)} webhook deliveries still pending")
                self._cond.wait(min(remaining, 0.05))

    # ------------------------------------------------------------------ the thread

    def _release_held(self) -> None:
        for delivery in self._deliveries:
            if delivery.state == HELD:
                delivery.state = PENDING
                # Ahead of everything already waiting: it goes out next.
                delivery.due = 0.0
        self._cond.notify_all()

    def _next(self) -> Delivery | None:
        """The next delivery to send, waiting for one to fall due; None when stopping."""
        with self._cond:
            while not self._stopping:
                if not self._paused:
                    ready = [d for d in self._deliveries if d.state == PENDING]
                    if ready:
                        first = min(ready, key=lambda d: (d.due, d.seq))
                        wait = first.due - time.monotonic()
                        if wait <= 0:
                            self._sending = first
                            return first
                        self._cond.wait(wait)
                        continue
                self._cond.wait(0.5)
            return None

    def _run(self) -> None:
        while True:
            delivery = self._next()
            if delivery is None:
                return
            status, error = self._send(delivery)
            with self._cond:
                self._record(delivery, status, error)
                self._sending = None
                self._cond.notify_all()
            if delivery.state == DELIVERED and self._on_delivered is not None:
                self._on_delivered(delivery.event_id)

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        delivery.attempts += 1
        delivery.status_codes.append(status)
        if error is not None:
            delivery.errors.append(error)
        if status is not None and 200 <= status < 300:
            delivery.state = DELIVERED
            delivery.delivered_at = time.time()
        elif delivery.attempts >= self.max_attempts:
            delivery.state = FAILED
        else:
            index = min(delivery.attempts - 1, len(self.retry_delays) - 1)
            delay = self.retry_delays[index] if self.retry_delays else 0.0
            delivery.due = time.monotonic() + delay
        if delivery.fault != "reorder":
            # A held delivery goes out right after the one that overtook it.
            self._release_held()

    def _send(self, delivery: Delivery) -> tuple[int | None, str | None]:
        header = sign(delivery.payload, delivery.secrets, int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - the configured webhook URL
            delivery.url,
            data=delivery.payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": header,
                "User-Agent": USER_AGENT,
                "Accept": "*/*; q=0.5, application/xml",
                "Cache-Control": "no-cache",
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
                return int(response.status), None
        except urllib.error.HTTPError as failure:
            with failure:
                failure.read(65536)
            return int(failure.code), None
        except (urllib.error.URLError, OSError) as failure:
            return None, str(getattr(failure, "reason", failure))
