"""Customers, products and prices."""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.shapes import catalogue as catalogue_shapes
from fiko_billing.emulator.shapes import customers as customer_shapes
from fiko_billing.testing.payloads.base import Obj, context, stripe_id, with_overrides


def customer(**overrides: Any) -> Obj:
    obj = customer_shapes.customer(context(), {"email": "customer@example.com"})
    obj["id"] = stripe_id("cus")
    return with_overrides(obj, overrides)


def deleted_customer(customer_id: str) -> Obj:
    return customer_shapes.deleted({"id": customer_id, "object": "customer"})


def product(**overrides: Any) -> Obj:
    obj = catalogue_shapes.product(context(), {"id": stripe_id("prod"), "name": "Product"})
    return with_overrides(obj, overrides)


def price(
    *,
    product_id: str,
    unit_amount: int,
    currency: str = "usd",
    interval: str | None = None,
    **overrides: Any,
) -> Obj:
    params: dict[str, Any] = {"unit_amount": unit_amount, "currency": currency}
    if interval is not None:
        params["recurring"] = {"interval": interval, "interval_count": 1}
    obj = catalogue_shapes.price(context(), params, product_id)
    obj["id"] = stripe_id("price")
    return with_overrides(obj, overrides)
