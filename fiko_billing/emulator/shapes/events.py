"""The event envelope, as Stripe delivers it."""

from __future__ import annotations

import copy

from fiko_billing.api_version import PINNED_API_VERSION
from fiko_billing.emulator.store import Obj


def event(
    event_id: str,
    event_type: str,
    obj: Obj,
    *,
    created: int,
    previous: Obj | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    api_version: str = PINNED_API_VERSION,
    pending_webhooks: int = 0,
) -> Obj:
    """An event wrapping a snapshot of ``obj``; ``previous`` only on ``*.updated`` types."""
    data: Obj = {"object": copy.deepcopy(obj)}
    if previous:
        data["previous_attributes"] = copy.deepcopy(previous)
    return {
        "id": event_id,
        "object": "event",
        "api_version": api_version,
        "context": None,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }
