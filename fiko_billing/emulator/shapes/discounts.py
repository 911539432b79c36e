"""Coupons, promotion codes and discounts (``source.coupon`` since clover)."""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.store import Obj


def coupon(ctx: Ctx, params: dict[str, Any]) -> Obj:
    percent = params.get("percent_off")
    amount_off = params.get("amount_off")
    if percent is not None:
        default_name = f"{percent:g}% off"
    else:
        default_name = f"{amount_off} {params.get('currency', '').upper()} off"
    return {
        "id": params.get("id") or ctx.store.ids.token(8),
        "object": "coupon",
        "amount_off": amount_off,
        "applies_to": None,
        "created": ctx.now(),
        "currency": params.get("currency"),
        "duration": params.get("duration", "once"),
        "duration_in_months": params.get("duration_in_months"),
        "livemode": False,
        "max_redemptions": params.get("max_redemptions"),
        "metadata": params.get("metadata") or {},
        "name": params.get("name") or default_name,
        "percent_off": percent,
        "redeem_by": params.get("redeem_by"),
        "times_redeemed": 0,
        "valid": True,
    }


def promotion_code(ctx: Ctx, params: dict[str, Any], code: str) -> Obj:
    restrictions = params.get("restrictions") or {}
    return {
        "id": ctx.new_id("promo"),
        "object": "promotion_code",
        "active": params.get("active", True),
        "code": code,
        "created": ctx.now(),
        "customer": params.get("customer"),
        "customer_account": None,
        "expires_at": params.get("expires_at"),
        "livemode": False,
        "max_redemptions": params.get("max_redemptions"),
        "metadata": params.get("metadata") or {},
        "promotion": {"coupon": params["promotion"]["coupon"], "type": "coupon"},
        "restrictions": {
            "currency_options": {},
            "first_time_transaction": restrictions.get("first_time_transaction", False),
            "minimum_amount": restrictions.get("minimum_amount"),
            "minimum_amount_currency": restrictions.get("minimum_amount_currency"),
        },
        "times_redeemed": 0,
    }


def discount(
    ctx: Ctx,
    coupon_obj: Obj,
    *,
    promotion_code: str | None,
    customer: str | None,
    subscription: str | None = None,
    checkout_session: str | None = None,
    invoice: str | None = None,
    end: int | None = None,
) -> Obj:
    return {
        "id": ctx.new_id("di"),
        "object": "discount",
        "checkout_session": checkout_session,
        "customer": customer,
        "customer_account": None,
        "end": end,
        "invoice": invoice,
        "invoice_item": None,
        "promotion_code": promotion_code,
        "source": {"coupon": coupon_obj["id"], "type": "coupon"},
        "start": ctx.now(),
        "subscription": subscription,
        "subscription_item": None,
    }


def amount_off(coupon_obj: Obj, subtotal: int) -> int:
    """What a coupon takes off a subtotal, never more than the subtotal."""
    if coupon_obj.get("percent_off") is not None:
        # Half up, as Stripe rounds discount amounts.
        return min(subtotal, int(subtotal * float(coupon_obj["percent_off"]) / 100 + 0.5))
    return min(subtotal, int(coupon_obj.get("amount_off") or 0))
