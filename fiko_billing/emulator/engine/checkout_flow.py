"""What happens when a customer pays on the hosted Checkout page.

Payment mode: a payment intent is confirmed with the card (declines and 3D
Secure failures leave it, and the session, open for another try). Subscription
mode: nothing is created until the card has gone through; then the customer
(if new), the attached card, the subscription and its paid first invoice, in
Stripe's event order. Either way the session ends ``complete`` and
``checkout.session.completed`` is the last event.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from fiko_billing.emulator.cards import AUTHENTICATION_FAILED, Card, saved_card
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import charging, discounting, lifecycle
from fiko_billing.emulator.shapes import customers as customer_shapes
from fiko_billing.emulator.shapes import discounts as discount_shapes
from fiko_billing.emulator.store import Obj

COMPLETE = "complete"
CHALLENGE = "challenge"
DECLINED = "declined"


@dataclass
class Attempt:
    status: str
    message: str | None = None
    redirect: str | None = None


@dataclass
class Quote:
    subtotal: int
    discount: int
    coupons: list[tuple[Obj, Obj | None]]

    @property
    def total(self) -> int:
        return self.subtotal - self.discount


def quote(ctx: Ctx, session: Obj) -> Quote:
    """The amounts the page shows: line items, the applied coupon, the total."""
    hidden = ctx.store.hidden(session["id"])
    subtotal = sum(item["amount_subtotal"] for item in hidden["line_items"])
    coupons: list[tuple[Obj, Obj | None]] = []
    for entry in hidden.get("discounts", []):
        coupon = ctx.store.get("coupon", entry["coupon"])
        promo = (
            ctx.store.get("promotion_code", entry["promotion_code"])
            if entry.get("promotion_code")
            else None
        )
        if coupon is not None:
            coupons.append((coupon, promo))
    return Quote(subtotal, discount_for(subtotal, [c for c, _ in coupons]), coupons)


def discount_for(subtotal: int, coupons: list[Obj]) -> int:
    """What the coupons take off a subtotal, each from what the previous ones left."""
    discount = 0
    for coupon in coupons:
        discount += discount_shapes.amount_off(coupon, subtotal - discount)
    return discount


def apply_code(ctx: Ctx, session: Obj, code: str) -> str | None:
    """Apply a promotion code typed on the page; returns the error to show, if any."""
    if not session["allow_promotion_codes"]:
        return "Promotion codes are not accepted for this purchase."
    # A new code replaces the one applied before, whether or not it is valid:
    # the page never shows a discount for a code the customer has replaced.
    remove_code(ctx, session)
    promo = discounting.find_code(ctx, code)
    if promo is None:
        return "This code is invalid."
    hidden = ctx.store.hidden(session["id"])
    subtotal = sum(item["amount_subtotal"] for item in hidden["line_items"])
    problem = discounting.why_not_redeemable(
        ctx, promo, customer=session["customer"], subtotal=subtotal, currency=session["currency"]
    )
    if problem is not None:
        return problem
    hidden["discounts"] = [{"coupon": promo["promotion"]["coupon"], "promotion_code": promo["id"]}]
    apply_amounts(ctx, session)
    return None


def remove_code(ctx: Ctx, session: Obj) -> None:
    """Take off the promotion code the customer applied (only codes: a session created
    with ``discounts`` accepts no promotion code, and its discount stays)."""
    if not session["allow_promotion_codes"]:
        return
    hidden = ctx.store.hidden(session["id"])
    if hidden.get("discounts"):
        hidden["discounts"] = []
        apply_amounts(ctx, session)


def apply_amounts(ctx: Ctx, session: Obj) -> None:
    hidden = ctx.store.hidden(session["id"])
    current = quote(ctx, session)
    session["amount_subtotal"] = current.subtotal
    session["amount_total"] = current.total
    session["total_details"]["amount_discount"] = current.discount
    session["discounts"] = copy.deepcopy(hidden.get("discounts", []))
    remaining = current.discount
    items = hidden["line_items"]
    for index, item in enumerate(items):
        if index == len(items) - 1:
            share = remaining
        else:
            share = current.discount * item["amount_subtotal"] // max(1, current.subtotal)
        remaining -= share
        item["amount_discount"] = share
        item["amount_total"] = item["amount_subtotal"] - share


def pay(ctx: Ctx, session: Obj, card: Card, *, email: str | None, name: str | None) -> Attempt:
    hidden = ctx.store.hidden(session["id"])
    hidden["buyer"] = {"email": email or session["customer_email"], "name": name}
    hidden.pop("challenge", None)
    if session["mode"] == "payment":
        return _pay_once(ctx, session, card)
    if card.needs_authentication(off_session=False):
        return _challenge(ctx, session, card)
    decline = card.decline(off_session=False)
    if decline is not None:
        return Attempt(DECLINED, decline.message)
    return _subscribe(ctx, session, card)


def _challenge(ctx: Ctx, session: Obj, card: Card) -> Attempt:
    """Remember the card until the customer answers the 3D Secure page."""
    ctx.store.hidden(session["id"])["challenge"] = {
        "number": card.number,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
    }
    return Attempt(CHALLENGE)


def challenged_card(ctx: Ctx, session: Obj) -> Card | None:
    stored = ctx.store.hidden(session["id"]).get("challenge")
    if stored is None:
        return None
    return saved_card(stored["number"], stored["exp_month"], stored["exp_year"])


def authenticate(ctx: Ctx, session: Obj, *, approved: bool) -> Attempt:
    """The answer to the 3D Secure challenge page (only once, for the card challenged)."""
    hidden = ctx.store.hidden(session["id"])
    stored = hidden.pop("challenge", None)
    if stored is None:
        return Attempt(DECLINED, "Your payment could not be completed. Please try again.")
    card = saved_card(stored["number"], stored["exp_month"], stored["exp_year"])
    if session["mode"] == "payment":
        pi = ctx.store.get("payment_intent", session["payment_intent"] or "")
        pm = ctx.store.get("payment_method", hidden.get("payment_method", ""))
        if pi is None or pm is None or pi["status"] != "requires_action":
            return Attempt(DECLINED, "Your payment could not be completed. Please try again.")
        if not approved:
            charging.fail_authentication(ctx, pi, pm)
            return Attempt(DECLINED, AUTHENTICATION_FAILED.message)
        outcome = charging.confirm(ctx, pi, pm, off_session=False, authenticated=True)
        if not outcome.ok:
            return Attempt(DECLINED, outcome.decline.message if outcome.decline else None)
        return _complete(
            ctx, session, customer=ctx.store.get("customer", hidden.get("customer") or "")
        )
    if not approved:
        return Attempt(DECLINED, AUTHENTICATION_FAILED.message)
    return _subscribe(ctx, session, card)


def _pay_once(ctx: Ctx, session: Obj, card: Card) -> Attempt:
    hidden = ctx.store.hidden(session["id"])
    customer = _payment_mode_customer(ctx, session)
    pm = charging.save_card(ctx, card, customer=None, **hidden["buyer"])
    hidden["payment_method"] = pm["id"]
    pi = ctx.store.get("payment_intent", session["payment_intent"] or "")
    if pi is None or pi["status"] not in ("requires_payment_method", "requires_action"):
        data = ctx.store.hidden(session["id"]).get("payment_intent_data") or {}
        pi = charging.new_intent(
            ctx,
            amount=quote(ctx, session).total,
            currency=session["currency"],
            customer=customer["id"] if customer else None,
            description=data.get("description"),
            metadata=data.get("metadata"),
        )
        session["payment_intent"] = pi["id"]
    outcome = charging.confirm(ctx, pi, pm, off_session=False)
    if outcome.status == charging.REQUIRES_ACTION:
        return _challenge(ctx, session, card)
    if not outcome.ok:
        return Attempt(DECLINED, outcome.decline.message if outcome.decline else None)
    return _complete(ctx, session, customer=customer)


def _payment_mode_customer(ctx: Ctx, session: Obj) -> Obj | None:
    """Payment mode makes a customer only when asked to (``customer_creation=always``)."""
    hidden = ctx.store.hidden(session["id"])
    if session["customer"]:
        return ctx.store.get("customer", session["customer"])
    if hidden.get("customer"):
        return ctx.store.get("customer", hidden["customer"])
    if session["customer_creation"] != "always":
        return None
    customer = _new_customer(ctx, session, pm_id=None)
    hidden["customer"] = customer["id"]
    return customer


def _new_customer(ctx: Ctx, session: Obj, *, pm_id: str | None) -> Obj:
    buyer = ctx.store.hidden(session["id"]).get("buyer") or {}
    params: dict[str, Any] = {
        "email": buyer.get("email"),
        "name": buyer.get("name"),
        "invoice_settings": {"default_payment_method": pm_id},
    }
    customer = ctx.store.add(customer_shapes.customer(ctx, params))
    ctx.events.emit("customer.created", customer)
    return customer


def _subscribe(ctx: Ctx, session: Obj, card: Card) -> Attempt:
    hidden = ctx.store.hidden(session["id"])
    buyer = hidden["buyer"]
    customer = ctx.store.get("customer", session["customer"]) if session["customer"] else None
    if customer is None:
        # The card exists before the customer so the new customer can default to it.
        pm = ctx.store.add(customer_shapes.payment_method(ctx, card, **buyer))
        ctx.store.hidden(pm["id"])["card"] = card.number
        customer = _new_customer(ctx, session, pm_id=pm["id"])
        charging.attach(ctx, pm, customer["id"])
    else:
        pm = charging.save_card(ctx, card, customer=customer["id"], **buyer)
    discounts = _discount_objects(ctx, session, customer["id"])
    data = hidden.get("subscription_data") or {}
    prices = [
        (ctx.store.get("price", item["price"]) or {}, int(item["quantity"]))
        for item in hidden["line_items"]
    ]
    sub, invoice = lifecycle.start(
        ctx,
        customer=customer,
        prices=prices,
        pm=pm,
        metadata=data.get("metadata") or {},
        discounts=discounts,
        description=data.get("description"),
    )
    session["subscription"] = sub["id"]
    session["invoice"] = invoice["id"]
    return _complete(ctx, session, customer=customer)


def _discount_objects(ctx: Ctx, session: Obj, customer_id: str) -> list[Obj]:
    found = []
    for coupon, promo in quote(ctx, session).coupons:
        discount = discount_shapes.discount(
            ctx,
            coupon,
            promotion_code=promo["id"] if promo else None,
            customer=customer_id,
            checkout_session=session["id"],
            end=discounting.discount_end(coupon, ctx.now()),
        )
        found.append(ctx.store.add(discount))
    return found


def _complete(ctx: Ctx, session: Obj, *, customer: Obj | None) -> Attempt:
    hidden = ctx.store.hidden(session["id"])
    buyer = hidden.get("buyer") or {}
    apply_amounts(ctx, session)
    for coupon, promo in quote(ctx, session).coupons:
        discounting.redeem(ctx, coupon, promo)
    session["status"] = "complete"
    session["payment_status"] = "paid"
    session["url"] = None
    if customer is not None:
        session["customer"] = customer["id"]
    session["customer_details"] = {
        "address": dict(customer_shapes.ADDRESS_NONE),
        "business_name": None,
        "email": buyer.get("email") or (customer or {}).get("email"),
        "individual_name": None,
        "name": buyer.get("name"),
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    ctx.events.emit("checkout.session.completed", session)
    return Attempt(COMPLETE, redirect=success_redirect(session))


def success_redirect(session: Obj) -> str | None:
    url = session["success_url"]
    if not url:
        return None
    return str(url).replace("{CHECKOUT_SESSION_ID}", session["id"])


def expire(ctx: Ctx, session: Obj) -> None:
    session["status"] = "expired"
    session["url"] = None
    ctx.events.emit("checkout.session.expired", session)
