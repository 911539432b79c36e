"""Stripe objects in the shape of the pinned API version, with realistic values.

Each builder returns a plain ``dict`` as Stripe's JSON would decode; keyword
arguments override any top-level field. Only the fields a billing integration
commonly reads are filled; the rest keep Stripe's defaults.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any

from fiko_billing.conf import PINNED_API_VERSION

_counter = itertools.count(1)


def stripe_id(prefix: str) -> str:
    """A fresh id that looks like Stripe's (``cus_…``, ``cs_test_…``)."""
    return f"{prefix}_{secrets.token_hex(7)}{next(_counter):04d}"


def _now() -> int:
    return int(time.time())


def customer(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": stripe_id("cus"),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": _now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": "customer@example.com",
        "invoice_prefix": "FIKO0001",
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    obj.update(overrides)
    return obj


def deleted_customer(customer_id: str) -> dict[str, Any]:
    return {"id": customer_id, "object": "customer", "deleted": True}


def product(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": stripe_id("prod"),
        "object": "product",
        "active": True,
        "created": _now(),
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": "Product",
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": _now(),
        "url": None,
    }
    obj.update(overrides)
    return obj


def price(
    *,
    product_id: str,
    unit_amount: int,
    currency: str = "usd",
    interval: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": stripe_id("price"),
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": _now(),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product_id,
        "recurring": None
        if interval is None
        else {
            "interval": interval,
            "interval_count": 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time" if interval is None else "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }
    obj.update(overrides)
    return obj


def subscription_item(
    *, price_obj: dict[str, Any], subscription_id: str, start: int, end: int, quantity: int = 1
) -> dict[str, Any]:
    return {
        "id": stripe_id("si"),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": start,
        "current_period_end": end,
        "current_period_start": start,
        "discounts": [],
        "metadata": {},
        "price": price_obj,
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }


def subscription(
    *,
    customer_id: str,
    price_obj: dict[str, Any],
    status: str = "active",
    start: int | None = None,
    end: int | None = None,
    quantity: int = 1,
    **overrides: Any,
) -> dict[str, Any]:
    """A subscription; since 2025-03-31 its period lives on each item."""
    start = _now() if start is None else start
    if end is None:
        interval = (price_obj.get("recurring") or {}).get("interval", "month")
        end = start + (365 if interval == "year" else 30) * 86400
    sub_id = overrides.pop("id", None) or stripe_id("sub")
    obj: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "billing_cycle_anchor": start,
        "billing_mode": {"type": "flexible"},
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": start,
        "currency": price_obj["currency"],
        "customer": customer_id,
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "ended_at": None,
        "items": {
            "object": "list",
            "data": [
                subscription_item(
                    price_obj=price_obj,
                    subscription_id=sub_id,
                    start=start,
                    end=end,
                    quantity=quantity,
                )
            ],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": {},
        "pause_collection": None,
        "pending_update": None,
        "start_date": start,
        "status": status,
        "status_details": None,
        "trial_end": None,
        "trial_start": None,
    }
    obj.update(overrides)
    return obj


def invoice(
    *,
    customer_id: str,
    subscription_id: str | None,
    price_obj: dict[str, Any],
    billing_reason: str = "subscription_create",
    status: str = "paid",
    period_start: int | None = None,
    period_end: int | None = None,
    quantity: int = 1,
    **overrides: Any,
) -> dict[str, Any]:
    """An invoice; its subscription sits under ``parent.subscription_details``."""
    period_start = _now() if period_start is None else period_start
    period_end = period_start + 30 * 86400 if period_end is None else period_end
    amount = price_obj["unit_amount"] * quantity
    invoice_id = overrides.pop("id", None) or stripe_id("in")
    paid = status == "paid"
    obj: dict[str, Any] = {
        "id": invoice_id,
        "object": "invoice",
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": period_start,
        "currency": price_obj["currency"],
        "customer": customer_id,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}",
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": stripe_id("il"),
                    "object": "line_item",
                    "amount": amount,
                    "currency": price_obj["currency"],
                    "invoice": invoice_id,
                    "metadata": {},
                    "period": {"start": period_start, "end": period_end},
                    "pricing": {
                        "price_details": {
                            "price": price_obj["id"],
                            "product": price_obj["product"],
                        },
                        "type": "price_details",
                        "unit_amount_decimal": str(price_obj["unit_amount"]),
                    },
                    "quantity": quantity,
                    "parent": None
                    if subscription_id is None
                    else {
                        "type": "subscription_item_details",
                        "subscription_item_details": {
                            "subscription": subscription_id,
                            "subscription_item": stripe_id("si"),
                            "proration": False,
                            "invoice_item": None,
                            "proration_details": {"credited_items": None},
                        },
                        "invoice_item_details": None,
                    },
                }
            ],
            "has_more": False,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "parent": None
        if subscription_id is None
        else {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription_id},
        },
        "payments": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": "/v1/invoice_payments",
        },
        "period_end": period_end,
        "period_start": period_start,
        "status": status,
        "status_transitions": {
            "finalized_at": period_start,
            "paid_at": period_start if paid else None,
            "voided_at": None,
            "marked_uncollectible_at": None,
        },
        "subtotal": amount,
        "total": amount,
    }
    obj.update(overrides)
    return obj


def checkout_session(
    *,
    mode: str = "payment",
    status: str = "open",
    payment_status: str = "unpaid",
    customer_id: str | None = None,
    amount_total: int = 500,
    currency: str = "usd",
    metadata: dict[str, str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    session_id = overrides.pop("id", None) or stripe_id("cs_test")
    obj: dict[str, Any] = {
        "id": session_id,
        "object": "checkout.session",
        "allow_promotion_codes": True,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "cancel_url": "https://example.com/cancel",
        "client_reference_id": None,
        "created": _now(),
        "currency": currency,
        "customer": customer_id,
        "customer_details": None,
        "customer_email": None,
        "expires_at": _now() + 86400,
        "invoice": None,
        "livemode": False,
        "locale": None,
        "metadata": dict(metadata or {}),
        "mode": mode,
        "payment_intent": None,
        "payment_status": payment_status,
        "status": status,
        "subscription": None,
        "success_url": "https://example.com/success?session_id={CHECKOUT_SESSION_ID}",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page",
        "url": f"https://checkout.stripe.com/c/pay/{session_id}" if status == "open" else None,
    }
    obj.update(overrides)
    return obj


def portal_session(*, customer_id: str, return_url: str, **overrides: Any) -> dict[str, Any]:
    session_id = overrides.pop("id", None) or stripe_id("bps")
    obj: dict[str, Any] = {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": stripe_id("bpc"),
        "created": _now(),
        "customer": customer_id,
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": f"https://billing.stripe.com/p/session/{session_id}",
    }
    obj.update(overrides)
    return obj


def error(
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    decline_code: str | None = None,
) -> dict[str, Any]:
    """Stripe's error body."""
    body: dict[str, Any] = {"type": type, "message": message}
    if code:
        body["code"] = code
        body["doc_url"] = f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}"
    if param:
        body["param"] = param
    if decline_code:
        body["decline_code"] = decline_code
    return {"error": body}


def list_of(items: list[dict[str, Any]], *, url: str, has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": has_more, "url": url}


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    created: int | None = None,
    previous_attributes: dict[str, Any] | None = None,
    api_version: str = PINNED_API_VERSION,
    **overrides: Any,
) -> dict[str, Any]:
    """A Stripe event wrapping a snapshot of ``obj``."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    body: dict[str, Any] = {
        "id": overrides.pop("id", None) or stripe_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": _now() if created is None else created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    body.update(overrides)
    return body


def charge(
    *,
    amount: int,
    payment_intent: str | None = None,
    amount_refunded: int = 0,
    currency: str = "usd",
    **overrides: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": overrides.pop("id", None) or stripe_id("ch"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "captured": True,
        "created": _now(),
        "currency": currency,
        "customer": None,
        "disputed": False,
        "livemode": False,
        "metadata": {},
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": amount_refunded >= amount,
        "status": "succeeded",
    }
    obj.update(overrides)
    return obj


def dispute(
    *, charge_id: str, amount: int, payment_intent: str | None = None, **overrides: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": overrides.pop("id", None) or stripe_id("dp"),
        "object": "dispute",
        "amount": amount,
        "charge": charge_id,
        "created": _now(),
        "currency": "usd",
        "livemode": False,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": "needs_response",
    }
    obj.update(overrides)
    return obj
