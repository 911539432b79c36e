"""Effects whose cause has not been recorded yet: they wait, they are never dropped.

A refund can reach us before the payment it refunds, a dispute before its
charge is known. The service that needs the missing cause raises ``Wait``
naming it with a key (``"payment_intent:pi_..."``); whoever processes the
event keeps it pending under that key. When a service later records the cause
it calls ``recorded(key)``, and every event waiting on that key runs again:
at once, in the same transaction, when the cause was recorded while an event
was being processed; after commit otherwise (the success page's status
endpoint, a command).

Event processing (``fiko_billing.services.events``) registers itself here
with ``set_waker``; the services that record causes never import it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from django.db import transaction


class Wait(Exception):
    """The cause of this effect is not recorded yet; try again once ``key`` is."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key[:255]


def payment_intent_key(payment_intent_id: str) -> str:
    return f"payment_intent:{payment_intent_id}"


def charge_key(charge_id: str) -> str:
    return f"charge:{charge_id}"


def invoice_key(invoice_id: str) -> str:
    return f"invoice:{invoice_id}"


Waker = Callable[[set[str]], None]

_waker: Waker | None = None
_local = threading.local()


def set_waker(waker: Waker) -> None:
    """Register the function that runs again the events waiting on some keys."""
    global _waker
    _waker = waker


@contextmanager
def collecting() -> Iterator[set[str]]:
    """Collect the keys recorded inside the block instead of waking at commit.

    The event processor wraps a handler in this and wakes the waiting events
    itself before its transaction commits, so cause and effect commit together.
    """
    previous = getattr(_local, "keys", None)
    keys: set[str] = set()
    _local.keys = keys
    try:
        yield keys
    finally:
        _local.keys = previous


def recorded(keys: Iterable[str | None]) -> None:
    """A cause named by ``keys`` is now recorded: wake what waits for it."""
    wanted = {key[:255] for key in keys if key}
    if not wanted:
        return
    collector: set[str] | None = getattr(_local, "keys", None)
    if collector is not None:
        collector.update(wanted)
        return
    waker = _waker
    if waker is not None:
        transaction.on_commit(lambda: waker(wanted))
