"""Charges and disputes."""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.cards import saved_card
from fiko_billing.emulator.shapes import balance as balance_shapes
from fiko_billing.emulator.shapes import customers as customer_shapes
from fiko_billing.emulator.shapes import payments as payment_shapes
from fiko_billing.testing.payloads.base import Obj, context, stripe_id, with_overrides


def charge(
    *,
    amount: int,
    payment_intent: str | None = None,
    amount_refunded: int = 0,
    currency: str = "usd",
    **overrides: Any,
) -> Obj:
    """A successful card charge (4242), refunded by ``amount_refunded`` so far."""
    ctx = context()
    pi = payment_shapes.payment_intent(ctx, amount=amount, currency=currency, customer=None)
    card = saved_card("4242424242424242", 12, 2034)
    pm = customer_shapes.payment_method(ctx, card, email=None, name=None)
    obj = payment_shapes.charge(ctx, pi, pm, card, None, authenticated=False)
    obj.update(
        id=overrides.pop("id", None) or stripe_id("ch"),
        payment_intent=payment_intent,
        balance_transaction=stripe_id("txn"),
        amount_refunded=amount_refunded,
        refunded=amount_refunded >= amount,
    )
    return with_overrides(obj, overrides)


def dispute(
    *, charge_id: str, amount: int, payment_intent: str | None = None, **overrides: Any
) -> Obj:
    """A card chargeback as ``charge.dispute.created`` carries it (``needs_response``)."""
    charge_like = {
        "id": charge_id,
        "currency": overrides.pop("currency", "usd"),
        "payment_intent": payment_intent,
        "payment_method_details": {"card": {"brand": "visa"}},
    }
    obj = balance_shapes.dispute(context(), charge_like, amount=amount, reason="fraudulent")
    obj["id"] = overrides.pop("id", None) or stripe_id("du")
    return with_overrides(obj, overrides)
