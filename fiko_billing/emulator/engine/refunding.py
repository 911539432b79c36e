"""Refunds of a charge, whatever paid it: a Checkout payment or any invoice's payment.

Events as Stripe sends them for a card refund: ``refund.created``
(``succeeded``), ``charge.refunded`` (``amount_refunded`` cumulative,
``refunded`` only once all of it is back), then ``refund.updated`` and the
legacy ``charge.refund.updated`` when the card network's reference for the
refund becomes available.
"""

from __future__ import annotations

import copy
from typing import Any

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.shapes import balance as balance_shapes
from fiko_billing.emulator.shapes import payments as shapes
from fiko_billing.emulator.store import Obj


def refund(ctx: Ctx, charge: Obj, amount: int, params: dict[str, Any]) -> Obj:
    txn = ctx.store.add(
        balance_shapes.balance_transaction(
            ctx,
            amount=-amount,
            currency=charge["currency"],
            kind="refund",
            category="refund",
            source="",
            description="REFUND FOR CHARGE",
        )
    )
    made = ctx.store.add(shapes.refund(ctx, charge, amount, params, balance_transaction=txn["id"]))
    txn["source"] = made["id"]
    ctx.events.emit("refund.created", made)
    before = copy.deepcopy(charge)
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    ctx.events.updated("charge.refunded", before, charge)
    previous = copy.deepcopy(made)
    card = made["destination_details"]["card"]
    card["reference"] = ctx.store.ids.token(23).upper()
    card["reference_status"] = "available"
    card["reference_type"] = "acquirer_reference_number"
    updated = ctx.events.updated("refund.updated", previous, made)
    if updated is not None:
        ctx.events.emit("charge.refund.updated", made, updated["data"].get("previous_attributes"))
    return made
