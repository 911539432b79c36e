"""What wraps an object: an event, a list page, an error body."""

from __future__ import annotations

from typing import Any

from fiko_billing.api_version import PINNED_API_VERSION
from fiko_billing.emulator.shapes import events as event_shapes
from fiko_billing.emulator.wire import StripeError, list_object
from fiko_billing.testing.payloads.base import Obj, now, stripe_id, with_overrides


def error(
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    decline_code: str | None = None,
) -> Obj:
    """Stripe's error body."""
    failure = StripeError(
        400, message, type=type, code=code, param=param, decline_code=decline_code
    )
    return failure.body(stripe_id("req"))


def list_of(items: list[Obj], *, url: str, has_more: bool = False) -> Obj:
    page = list_object(items, url)
    page["has_more"] = has_more
    return page


def event(
    event_type: str,
    obj: Obj,
    *,
    created: int | None = None,
    previous_attributes: Obj | None = None,
    api_version: str = PINNED_API_VERSION,
    **overrides: Any,
) -> Obj:
    """A Stripe event wrapping a snapshot of ``obj``."""
    body = event_shapes.event(
        overrides.pop("id", None) or stripe_id("evt"),
        event_type,
        obj,
        created=now() if created is None else created,
        previous=previous_attributes,
        api_version=api_version,
        pending_webhooks=1,
    )
    return with_overrides(body, overrides)
