"""Checkout and Customer Portal sessions, and webhook endpoints."""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.shapes import checkout as checkout_shapes
from fiko_billing.emulator.shapes import portal as portal_shapes
from fiko_billing.testing.payloads.base import Obj, context, stripe_id, with_overrides


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
) -> Obj:
    params = {
        "mode": mode,
        "allow_promotion_codes": True,
        "success_url": "https://example.com/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://example.com/cancel",
        "metadata": dict(metadata or {}),
        "customer": customer_id,
    }
    obj = checkout_shapes.session(context(), params, currency=currency, subtotal=amount_total)
    session_id = overrides.pop("id", None) or obj["id"]
    obj.update(
        id=session_id,
        status=status,
        payment_status=payment_status,
        customer=customer_id,
        url=f"https://checkout.stripe.com/c/pay/{session_id}" if status == "open" else None,
    )
    return with_overrides(obj, overrides)


def portal_session(*, customer_id: str, return_url: str, **overrides: Any) -> Obj:
    obj = portal_shapes.portal_session(
        context(base_url="https://billing.stripe.com"),
        customer=customer_id,
        return_url=return_url,
        configuration=stripe_id("bpc"),
    )
    session_id = overrides.pop("id", None) or obj["id"]
    obj.update(id=session_id, url=f"https://billing.stripe.com/p/session/{session_id}")
    return with_overrides(obj, overrides)


def webhook_endpoint(*, url: str, enabled_events: list[str], **overrides: Any) -> Obj:
    """A webhook endpoint as listed (its ``secret`` is only in the create answer)."""
    obj = portal_shapes.webhook_endpoint(
        context(), {"url": url, "enabled_events": enabled_events, "description": "fiko-billing"}
    )
    obj["id"] = stripe_id("we")
    return with_overrides(obj, overrides)
