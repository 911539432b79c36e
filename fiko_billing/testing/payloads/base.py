"""What every payload builder shares: Stripe-like ids and a context for the shape builders."""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.events import EventLog
from fiko_billing.emulator.store import Store

Obj = dict[str, Any]

DAY = 86_400

_counter = itertools.count(1)


def stripe_id(prefix: str) -> str:
    """A fresh id that looks like Stripe's (``cus_…``, ``cs_test_…``)."""
    return f"{prefix}_{secrets.token_hex(7)}{next(_counter):04d}"


def sequence() -> int:
    """A number no other payload of this process has had (invoice numbers)."""
    return next(_counter)


def now() -> int:
    return int(time.time())


def context(at: int | None = None, base_url: str = "https://checkout.stripe.com") -> Ctx:
    """A context for one object: the shape builders' clock stands at ``at``."""
    store = Store()
    store.clock.frozen_at = now() if at is None else at
    store.base_url = base_url
    return Ctx(store, EventLog(store))


def with_overrides(obj: Obj, overrides: dict[str, Any]) -> Obj:
    obj.update(overrides)
    return obj
