"""Events: a frozen snapshot of an object for every state change.

``emit`` stores the event (so ``/v1/events`` lists it) and hands it to the
delivery listeners with the exact bytes that will be signed and sent.
``changes`` computes ``data.previous_attributes`` the way Stripe shows it:
the old value of every changed field, nested hashes narrowed to the changed
keys, arrays in full.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Protocol

from fiko_billing.emulator.shapes import events as shapes
from fiko_billing.emulator.store import Obj, Store
from fiko_billing.emulator.wire import dumps


class EventSink(Protocol):
    def targets(self, event: Obj) -> int: ...

    def enqueue(self, event: Obj, payload: bytes) -> None: ...


_MISSING = object()


def changes(before: Obj, after: Obj) -> Obj:
    """The old values of the fields that differ between two snapshots of an object."""
    previous: Obj = {}
    for key in before.keys() | after.keys():
        old = before.get(key, _MISSING)
        new = after.get(key, _MISSING)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            previous[key] = changes(old, new)
        else:
            previous[key] = None if old is _MISSING else copy.deepcopy(old)
    return previous


class EventLog:
    """Creates events and notifies listeners (webhook delivery) in creation order."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sinks: list[EventSink] = []
        #: Called with every new event (a copy), after it is stored; for tests.
        self.listeners: list[Callable[[Obj], None]] = []
        self.request_id: str | None = None
        self.idempotency_key: str | None = None

    def emit(self, event_type: str, obj: Obj, previous: Obj | None = None) -> Obj:
        store = self.store
        event = shapes.event(
            store.new_id("evt"),
            event_type,
            obj,
            created=store.clock.now(),
            previous=previous,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
        )
        event["pending_webhooks"] = sum(sink.targets(event) for sink in self.sinks)
        store.add(event)
        payload = dumps(event)
        for sink in self.sinks:
            sink.enqueue(event, payload)
        for listener in list(self.listeners):
            listener(copy.deepcopy(event))
        return event

    def updated(self, event_type: str, before: Obj, after: Obj) -> Obj | None:
        """An ``*.updated`` event, or none when nothing visible changed."""
        previous = changes(before, after)
        if not previous:
            return None
        return self.emit(event_type, after, previous)
