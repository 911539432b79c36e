"""What a Stripe subscription says, group by group.

The ordering rule (``fiko_billing.services.ordering``) compares and keeps
each group of fields on its own: the status, the cancellation, the plan and
the period. ``GROUPS`` reads a group from a Stripe subscription;
``group_columns`` turns a group's value into the columns it writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fiko_billing import stripe_shapes as shapes
from fiko_billing.models import SubscriptionStatus
from fiko_billing.services.catalogue_lookup import item_for
from fiko_billing.services.stripe_data import (
    first_item,
    metadata,
    object_id,
    subscription_period,
    ts,
)
from fiko_billing.vocabulary import ITEM_METADATA_KEY


def merged(data: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """The object as it was before the event: ``previous_attributes`` laid over it."""
    old = dict(data)
    for name, value in previous.items():
        if isinstance(value, dict) and isinstance(old.get(name), dict):
            old[name] = merged(old[name], value)
        else:
            old[name] = value
    return old


def _status(data: shapes.Subscription) -> str:
    return data.get("status") or SubscriptionStatus.INCOMPLETE


def _cancel(data: shapes.Subscription) -> dict[str, bool | int | None]:
    return {
        "cancel_at_period_end": bool(data.get("cancel_at_period_end")),
        "cancel_at": data.get("cancel_at"),
        "canceled_at": data.get("canceled_at"),
    }


def _plan(data: shapes.Subscription) -> dict[str, str | int | None]:
    item = first_item(data) or {}
    price = item.get("price")
    product = price.get("product") if isinstance(price, dict) else None
    return {
        "price": object_id(price),
        "product": object_id(product),
        "item": metadata(data).get(ITEM_METADATA_KEY),
        "quantity": int(item.get("quantity") or 1),
    }


def _period(data: shapes.Subscription) -> dict[str, int | None]:
    start, end = subscription_period(data)
    return {
        "start": int(start.timestamp()) if start else None,
        "end": int(end.timestamp()) if end else None,
    }


#: Groups of fields that one kind of change writes together.
GROUPS: dict[str, Callable[[shapes.Subscription], object]] = {
    "status": _status,
    "cancel": _cancel,
    "plan": _plan,
    "period": _period,
}


def group_columns(group: str, value: Any) -> dict[str, Any]:
    if group == "status":
        return {"status": value}
    if group == "cancel":
        return {
            "cancel_at_period_end": bool(value["cancel_at_period_end"]),
            "cancel_at": ts(value["cancel_at"]),
            "canceled_at": ts(value["canceled_at"]),
        }
    if group == "plan":
        item, price = item_for(
            price_id=value["price"],
            product_id=value["product"],
            metadata={ITEM_METADATA_KEY: value["item"]} if value["item"] else None,
        )
        columns: dict[str, Any] = {
            "product_id": item.pk if item is not None else None,
            "quantity": value["quantity"],
        }
        if price is not None or item is not None:
            columns["price_id"] = price.pk if price is not None else None
        return columns
    return {"current_period_start": ts(value["start"]), "current_period_end": ts(value["end"])}


def stamp(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp())
