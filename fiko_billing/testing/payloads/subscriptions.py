"""Subscriptions and their items; since API 2025-03-31 the period lives on each item."""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.shapes import billing as billing_shapes
from fiko_billing.testing.payloads.base import DAY, Obj, context, now, stripe_id, with_overrides


def subscription_item(
    *, price_obj: Obj, subscription_id: str, start: int, end: int, quantity: int = 1
) -> Obj:
    item = billing_shapes.subscription_item(
        context(start), subscription_id, price_obj, quantity, start, end
    )
    item["id"] = stripe_id("si")
    return item


def subscription(
    *,
    customer_id: str,
    price_obj: Obj,
    status: str = "active",
    start: int | None = None,
    end: int | None = None,
    quantity: int = 1,
    **overrides: Any,
) -> Obj:
    """A subscription of one item, in the period from ``start`` (a month or a year)."""
    start = now() if start is None else start
    if end is None:
        interval = (price_obj.get("recurring") or {}).get("interval", "month")
        end = start + (365 if interval == "year" else 30) * DAY
    sub_id = overrides.pop("id", None) or stripe_id("sub")
    item = subscription_item(
        price_obj=price_obj, subscription_id=sub_id, start=start, end=end, quantity=quantity
    )
    obj = billing_shapes.subscription(
        context(start),
        sub_id=sub_id,
        customer=customer_id,
        currency=price_obj["currency"],
        items=[item],
        payment_method=None,
        metadata={},
    )
    obj["status"] = status
    return with_overrides(obj, overrides)
