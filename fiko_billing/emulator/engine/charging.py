"""Saved cards and payment intents: the test card decides every outcome."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from fiko_billing.emulator.cards import (
    AUTHENTICATION_FAILED,
    DISPUTED,
    Card,
    Decline,
    saved_card,
)
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import disputes
from fiko_billing.emulator.shapes import balance as balance_shapes
from fiko_billing.emulator.shapes import customers as customer_shapes
from fiko_billing.emulator.shapes import payments as shapes
from fiko_billing.emulator.store import Obj

SUCCEEDED = "succeeded"
FAILED = "failed"
REQUIRES_ACTION = "requires_action"


@dataclass
class Outcome:
    status: str
    payment_intent: Obj
    charge: Obj | None = None
    decline: Decline | None = None

    @property
    def ok(self) -> bool:
        return self.status == SUCCEEDED


def save_card(
    ctx: Ctx,
    card: Card,
    *,
    customer: str | None,
    email: str | None = None,
    name: str | None = None,
) -> Obj:
    """A card payment method, attached to ``customer`` when one is given."""
    pm = ctx.store.add(customer_shapes.payment_method(ctx, card, email=email, name=name))
    ctx.store.hidden(pm["id"])["card"] = card.number
    if customer is not None:
        attach(ctx, pm, customer)
    return pm


def attach(ctx: Ctx, pm: Obj, customer: str) -> None:
    pm["customer"] = customer
    ctx.events.emit("payment_method.attached", pm)


def card_of(ctx: Ctx, pm: Obj) -> Card:
    number = ctx.store.hidden(pm["id"])["card"]
    return saved_card(number, pm["card"]["exp_month"], pm["card"]["exp_year"])


def new_intent(
    ctx: Ctx,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    setup_future_usage: str | None = None,
) -> Obj:
    pi = ctx.store.add(
        shapes.payment_intent(
            ctx,
            amount=amount,
            currency=currency,
            customer=customer,
            description=description,
            metadata=metadata,
            setup_future_usage=setup_future_usage,
        )
    )
    ctx.events.emit("payment_intent.created", pi)
    return pi


def confirm(
    ctx: Ctx, pi: Obj, pm: Obj, *, off_session: bool, authenticated: bool = False
) -> Outcome:
    """Charge ``pm`` for ``pi``: success, a decline, or a 3D Secure challenge to answer."""
    card = card_of(ctx, pm)
    if card.needs_authentication(off_session=off_session) and not authenticated:
        pi["status"] = REQUIRES_ACTION
        pi["payment_method"] = pm["id"]
        pi["next_action"] = {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": ""},
        }
        ctx.events.emit("payment_intent.requires_action", pi)
        return Outcome(REQUIRES_ACTION, pi)
    decline = card.decline(off_session=off_session, authenticated=authenticated)
    charge = ctx.store.add(shapes.charge(ctx, pi, pm, card, decline, authenticated=authenticated))
    pi["latest_charge"] = charge["id"]
    pi["next_action"] = None
    if decline is not None:
        pi["status"] = "requires_payment_method"
        pi["payment_method"] = None
        pi["last_payment_error"] = shapes.payment_error(decline, copy.deepcopy(pm), charge["id"])
        ctx.events.emit("payment_intent.payment_failed", pi)
        ctx.events.emit("charge.failed", charge)
        return Outcome(FAILED, pi, charge, decline)
    pi["status"] = SUCCEEDED
    pi["payment_method"] = pm["id"]
    pi["amount_received"] = pi["amount"]
    pi["last_payment_error"] = None
    ctx.events.emit("payment_intent.succeeded", pi)
    ctx.events.emit("charge.succeeded", charge)
    _attach_balance_transaction(ctx, charge)
    if card.behaviour == DISPUTED:
        # The cardholder's bank disputes it as soon as it has gone through.
        ctx.defer(lambda: disputes.open_dispute(ctx, charge, reason="fraudulent"))
    return Outcome(SUCCEEDED, pi, charge)


def _attach_balance_transaction(ctx: Ctx, charge: Obj) -> None:
    """The charge's balance transaction, announced with ``charge.updated`` as Stripe does."""
    before = copy.deepcopy(charge)
    txn = ctx.store.add(
        balance_shapes.balance_transaction(
            ctx,
            amount=charge["amount"],
            currency=charge["currency"],
            kind="charge",
            category="charge",
            source=charge["id"],
            description=charge["description"],
            fee=balance_shapes.processing_fee(charge["amount"]),
        )
    )
    charge["balance_transaction"] = txn["id"]
    ctx.events.updated("charge.updated", before, charge)


def fail_authentication(ctx: Ctx, pi: Obj, pm: Obj) -> Outcome:
    """The customer pressed "Fail" on the 3D Secure challenge."""
    pi["status"] = "requires_payment_method"
    pi["payment_method"] = None
    pi["next_action"] = None
    pi["last_payment_error"] = shapes.payment_error(AUTHENTICATION_FAILED, copy.deepcopy(pm), None)
    pi["last_payment_error"]["type"] = "invalid_request_error"
    ctx.events.emit("payment_intent.payment_failed", pi)
    return Outcome(FAILED, pi, None, AUTHENTICATION_FAILED)


def default_payment_method(ctx: Ctx, subscription: Obj) -> Obj | None:
    """The card a subscription is charged with: its own default, else the customer's."""
    pm_id = subscription.get("default_payment_method")
    if pm_id is None:
        customer = ctx.store.get("customer", subscription["customer"]) or {}
        pm_id = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return None if pm_id is None else ctx.store.get("payment_method", pm_id)
