"""Reading Stripe objects (plain dicts in the pinned API version's shape)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from fiko_billing import stripe_shapes as shapes

_Shape = TypeVar("_Shape", bound=Mapping[str, Any])


def ts(value: int | str | None) -> datetime | None:
    """A Stripe unix timestamp as an aware datetime."""
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def state_time(now: datetime | None = None) -> datetime:
    """When state read from Stripe's API now counts as produced, at Stripe's precision.

    Event times are whole seconds. Stamping an API answer to the microsecond
    would make a later event of the same second look older and be ignored;
    at whole seconds the two tie, and ties are settled by the lifecycle.
    """
    return (now or datetime.now(tz=UTC)).replace(microsecond=0)


def object_id(value: object) -> str | None:
    """The id of a field that is either an id or an expanded object."""
    if value is None:
        return None
    if isinstance(value, dict):
        found = value.get("id")
        return str(found) if found else None
    return str(value)


def expanded(value: str | _Shape | None) -> _Shape | None:
    """The object of an expandable field, or ``None`` when only its id is there."""
    return value if isinstance(value, dict) else None


def subscription_period(
    subscription: shapes.Subscription,
) -> tuple[datetime | None, datetime | None]:
    """The current period; since 2025-03-31 it lives on each subscription item.

    With several items the subscription's period spans them all.
    """
    items = (subscription.get("items") or {}).get("data") or []
    starts = [i["current_period_start"] for i in items if i.get("current_period_start")]
    ends = [i["current_period_end"] for i in items if i.get("current_period_end")]
    # Payloads of versions before 2025-03-31 carry the period on the subscription.
    start = min(starts) if starts else subscription.get("current_period_start")
    end = max(ends) if ends else subscription.get("current_period_end")
    return ts(start), ts(end)


def first_item(subscription: shapes.Subscription) -> shapes.SubscriptionItem | None:
    items = (subscription.get("items") or {}).get("data") or []
    return items[0] if items else None


def invoice_subscription_id(invoice: shapes.Invoice) -> str | None:
    """Since 2025-03-31 an invoice's subscription sits under ``parent.subscription_details``."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    found = object_id(details.get("subscription"))
    return found or object_id(invoice.get("subscription"))


def metadata(obj: Mapping[str, Any] | None) -> dict[str, str]:
    return dict((obj or {}).get("metadata") or {})
