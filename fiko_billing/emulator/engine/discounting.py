"""Which coupons apply, to what, and for how long."""

from __future__ import annotations

from datetime import UTC, datetime

from fiko_billing.emulator.clock import add_months
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.store import Obj


def why_not_redeemable(
    ctx: Ctx, promo: Obj, *, customer: str | None, subtotal: int, currency: str
) -> str | None:
    """Why a promotion code cannot be used now, or None when it can."""
    coupon = ctx.store.get("coupon", promo["promotion"]["coupon"])
    now = ctx.now()
    if not promo["active"] or coupon is None or coupon.get("deleted") or not coupon["valid"]:
        return "This code is invalid."
    expired = [t for t in (promo["expires_at"], coupon["redeem_by"]) if t is not None and t <= now]
    if expired:
        return "This code has expired."
    for limited in (promo, coupon):
        limit = limited["max_redemptions"]
        if limit is not None and limited["times_redeemed"] >= limit:
            return "This code has reached its redemption limit."
    if promo["customer"] is not None and promo["customer"] != customer:
        return "This code is not valid for this customer."
    if coupon["amount_off"] is not None and coupon["currency"] != currency:
        return "This code is not valid for this currency."
    minimum = promo["restrictions"]["minimum_amount"]
    if minimum is not None and subtotal < minimum:
        return "This code requires a larger order."
    return None


def find_code(ctx: Ctx, code: str) -> Obj | None:
    """The active promotion code a customer typed (codes are case-insensitive)."""
    wanted = code.strip().lower()
    for promo in ctx.store.all("promotion_code"):
        if promo["active"] and promo["code"].lower() == wanted:
            return promo
    return None


def redeem(ctx: Ctx, coupon: Obj, promo: Obj | None) -> None:
    coupon["times_redeemed"] += 1
    if promo is not None:
        promo["times_redeemed"] += 1


def discount_end(coupon: Obj, start: int) -> int | None:
    if coupon["duration"] == "repeating":
        anchor_day = datetime.fromtimestamp(start, UTC).day
        return add_months(start, int(coupon["duration_in_months"] or 0), anchor_day)
    return None


def active_discounts(ctx: Ctx, subscription: Obj, invoice: Obj) -> list[Obj]:
    """The subscription's discounts that still apply to this invoice.

    A ``once`` coupon applies to one invoice: the first it was applied to,
    not a later proration or plan-change invoice of the same period.
    """
    found = []
    for discount_id in subscription["discounts"]:
        discount = ctx.store.get("discount", discount_id)
        if discount is None:
            continue
        if discount["end"] is not None and invoice["created"] >= discount["end"]:
            continue
        coupon = ctx.store.get("coupon", discount["source"]["coupon"])
        used_on = ctx.store.hidden(discount_id).get("applied_to")
        once = coupon is None or coupon["duration"] == "once"
        if once and used_on not in (None, invoice["id"]):
            continue
        found.append(discount)
    return found


def applied(ctx: Ctx, discount: Obj, invoice: Obj) -> None:
    """Remember the first invoice a discount took something off."""
    ctx.store.hidden(discount["id"]).setdefault("applied_to", invoice["id"])


def expired_discounts(ctx: Ctx, subscription: Obj, period_start: int) -> list[str]:
    """Discounts that end before a new period.

    A ``once`` coupon ends after the first invoice, a ``repeating`` one at its end.
    """
    ended = []
    for discount_id in subscription["discounts"]:
        discount = ctx.store.get("discount", discount_id)
        coupon = ctx.store.get("coupon", discount["source"]["coupon"]) if discount else None
        end = discount["end"] if discount else None
        once = coupon is None or coupon.get("duration") == "once"
        if once or (end is not None and period_start >= end):
            ended.append(discount_id)
    return ended
