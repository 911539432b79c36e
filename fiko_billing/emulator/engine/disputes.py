"""Disputes: opened by the cardholder's bank, answered with evidence, won or lost.

The events follow Stripe's card chargebacks: ``charge.dispute.created``
(``needs_response``), ``charge.dispute.funds_withdrawn`` (the amount and the
dispute fee leave the balance), ``charge.dispute.updated`` when evidence is
submitted (``under_review``), ``charge.dispute.closed`` (``won`` or ``lost``)
and, when won, ``charge.dispute.funds_reinstated``. Accepting a dispute
closes it as lost at once. As in Stripe's test mode, evidence whose
``uncategorized_text`` is ``winning_evidence`` or ``losing_evidence``
decides the outcome as soon as it is submitted.
"""

from __future__ import annotations

import copy

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.shapes import balance as shapes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import invalid

OPEN = ("needs_response", "under_review", "warning_needs_response", "warning_under_review")
WINNING = "winning_evidence"
LOSING = "losing_evidence"


def open_dispute(
    ctx: Ctx, charge: Obj, *, reason: str = "fraudulent", amount: int | None = None
) -> Obj:
    """The cardholder disputes ``charge`` (all of it unless ``amount``)."""
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge['id']} has not succeeded; it cannot be disputed.")
    if any(d["charge"] == charge["id"] for d in ctx.store.iter("dispute")):
        raise invalid(f"Charge {charge['id']} is already disputed.")
    disputed = charge["amount_captured"] if amount is None else amount
    if not 0 < disputed <= charge["amount_captured"]:
        raise invalid("A dispute's amount must be positive and at most the charge's amount.")
    dispute = ctx.store.add(shapes.dispute(ctx, charge, amount=disputed, reason=reason))
    charge["disputed"] = True
    ctx.events.emit("charge.dispute.created", dispute)
    withdrawal = ctx.store.add(
        shapes.balance_transaction(
            ctx,
            amount=-disputed,
            currency=dispute["currency"],
            kind="adjustment",
            category="dispute",
            source=dispute["id"],
            description=f"Chargeback withdrawal for {charge['id']}",
            fee=shapes.DISPUTE_FEE,
            fee_description="Dispute fee",
        )
    )
    dispute["balance_transactions"].append(copy.deepcopy(withdrawal))
    ctx.events.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def update(
    ctx: Ctx,
    dispute: Obj,
    *,
    evidence: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    submit: bool = False,
) -> None:
    """Evidence (and metadata) from the merchant; ``submit`` sends it to the bank."""
    if dispute["status"] not in OPEN:
        raise invalid(f"This dispute is already closed ({dispute['status']}).")
    before = copy.deepcopy(dispute)
    for key, value in (evidence or {}).items():
        dispute["evidence"][key] = value or None
    if metadata is not None:
        dispute["metadata"] = metadata
    details = dispute["evidence_details"]
    details["has_evidence"] = any(
        dispute["evidence"][k] for k in shapes.EVIDENCE_FIELDS if dispute["evidence"][k]
    )
    if submit:
        dispute["status"] = "under_review"
        details["submission_count"] += 1
        details["submission_method"] = "manual"
    ctx.events.updated("charge.dispute.updated", before, dispute)
    if submit:
        text = dispute["evidence"]["uncategorized_text"]
        if text in (WINNING, LOSING):
            close(ctx, dispute, won=text == WINNING)


def close(ctx: Ctx, dispute: Obj, *, won: bool) -> None:
    """The bank decides: ``won`` gives the money back, lost keeps it withdrawn."""
    if dispute["status"] not in OPEN:
        raise invalid(f"This dispute is already closed ({dispute['status']}).")
    dispute["status"] = "won" if won else "lost"
    ctx.events.emit("charge.dispute.closed", dispute)
    if not won:
        return
    reinstated = ctx.store.add(
        shapes.balance_transaction(
            ctx,
            amount=dispute["amount"],
            currency=dispute["currency"],
            kind="adjustment",
            category="dispute_reversal",
            source=dispute["id"],
            description=f"Chargeback reversal for {dispute['charge']}",
        )
    )
    dispute["balance_transactions"].append(copy.deepcopy(reinstated))
    ctx.events.emit("charge.dispute.funds_reinstated", dispute)


def accept(ctx: Ctx, dispute: Obj) -> None:
    """The merchant gives up (``POST /v1/disputes/{id}/close``): lost at once."""
    close(ctx, dispute, won=False)
