"""Refunds and disputes: recorded per Stripe object, each with its share of the tokens."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import cast

from fiko_billing import signals, tokens
from fiko_billing import stripe_shapes as shapes
from fiko_billing.conf import billing_settings
from fiko_billing.models import Dispute, EntryKind, Payment, Refund
from fiko_billing.services import waiting
from fiko_billing.services.payments.common import (
    DISPUTE_CLOSED,
    DISPUTE_RELEASED,
    REFUND_UNDONE,
    Claims,
    credit_reference,
    locked,
    refresh,
)
from fiko_billing.services.payments.lookup import find, ready, refunded_payment, wait_key
from fiko_billing.services.stripe_data import object_id
from fiko_billing.subscribers import Subscriber

logger = logging.getLogger("fiko_billing.payments")

REFUND_RANK = {"pending": 0, "requires_action": 0, "succeeded": 1, "failed": 2, "canceled": 2}


def _share(payment: Payment, amount: int) -> int:
    if payment.tokens <= 0 or payment.amount <= 0:
        return 0
    return min(payment.tokens, payment.tokens * amount // payment.amount)


def _forgive() -> bool:
    return billing_settings.REFUND_SPENT_TOKENS == "forgive"


def record_refund(
    refund: shapes.Refund, *, charge: shapes.Charge | None = None, wait: bool = True
) -> Refund | None:
    """``refund.*`` (or a refund we made): record it and take back its share of tokens.

    Returns ``None`` when the refund is not of a payment of ours (or, with
    ``wait=False``, when its payment is not ready yet).
    """
    intent = object_id(refund.get("payment_intent"))
    charge_id = object_id(refund.get("charge"))
    payment = _refunded_payment(refund, charge, intent, charge_id, wait=wait)
    if payment is None:
        return None
    payment, claims = _locked_claims(payment)
    row, created = _refund_row(refund, payment, claims, charge_id)
    _claim(
        payment,
        claims,
        row,
        kind=EntryKind.REFUND,
        reference=f"refund:{row.stripe_refund_id}",
        given_back="undone" if row.status in REFUND_UNDONE else None,
    )
    _settle_rest(payment, claims)
    before = payment.amount_refunded
    refresh(payment, claims)
    fields = ["amount_refunded", "status", "modified"]
    if not payment.stripe_charge_id and charge_id:
        payment.stripe_charge_id = charge_id
        fields.append("stripe_charge_id")
    payment.save(update_fields=fields)
    if created or payment.amount_refunded != before:
        signals.send_on_commit(
            signals.payment_refunded,
            Payment,
            subscriber=payment.subscriber,
            payment=payment,
            refund_id=row.stripe_refund_id,
            amount=row.amount,
        )
    logger.info(
        "refund %s of payment %s: %s %d of %d",
        row.stripe_refund_id,
        payment.pk,
        row.status,
        row.amount,
        payment.amount,
    )
    return row


def _refunded_payment(
    refund: shapes.Refund,
    charge: shapes.Charge | None,
    intent: str | None,
    charge_id: str | None,
    *,
    wait: bool,
) -> Payment | None:
    """The refunded payment of ours, ready for its refunds; ``None`` if there is none."""
    try:
        payment = refunded_payment(refund, charge)
        if payment is None:
            logger.info("refund %s is not of a payment of ours; ignored", refund.get("id"))
            return None
        ready(payment, intent, charge_id)
    except waiting.Wait:
        # A refund made here (of a duplicate subscription) is recorded again from
        # its webhook, which waits for the payment; here nothing need wait.
        if wait:
            raise
        return None
    return payment


def _locked_claims(payment: Payment) -> tuple[Payment, Claims]:
    """Lock the payment first so concurrent refunds and disputes see each other's claims."""
    payment = locked(payment)
    return payment, Claims.of(payment)


def _refund_row(
    refund: shapes.Refund, payment: Payment, claims: Claims, charge_id: str | None
) -> tuple[Refund, bool]:
    """The refund's row (unsaved if new) and whether it is new."""
    status = str(refund.get("status") or "pending")
    row = next((r for r in claims.refunds if r.stripe_refund_id == refund["id"]), None)
    if row is None:
        amount = int(refund.get("amount") or 0)
        row = Refund(
            stripe_refund_id=str(refund["id"]),
            payment=payment,
            stripe_charge_id=charge_id or "",
            amount=amount,
            currency=str(refund.get("currency") or payment.currency),
            status=status,
            reason=str(refund.get("reason") or ""),
            tokens=_share(payment, amount),
        )
        return row, True
    # Events arrive out of order: a status only moves forward, never back to pending.
    if REFUND_RANK.get(status, 0) > REFUND_RANK.get(row.status, 0):
        row.status = status
    return row, False


def _claim(
    payment: Payment,
    claims: Claims,
    row: Refund | Dispute,
    *,
    kind: str,
    reference: str,
    given_back: str | None,
) -> None:
    """Save a refund or dispute and take back (or give back) its share of the credit."""
    claimed_before = claims.requested(excluding=row)
    row.save()
    claims.put(row)
    label = "Refund" if kind == EntryKind.REFUND else "Dispute"
    if payment.subscriber_id is None:
        return  # an erased subscriber's ledger is closed
    if row.tokens:
        tokens.take_back(
            cast(Subscriber, payment.subscriber),
            row.tokens,
            credit_reference=credit_reference(payment) or "",
            reference=reference,
            claimed_before=claimed_before,
            kind=kind,
            forgive_spent=_forgive(),
            description=f"{label} of {payment}",
        )
    if given_back is not None:
        tokens.reinstate(
            cast(Subscriber, payment.subscriber),
            claim_reference=reference,
            reference=f"{reference}:{given_back}",
            description=f"{label} {reference.partition(':')[2]} {row.status}",
        )


def _settle_rest(payment: Payment, claims: Claims) -> None:
    """Shares are rounded down; a payment refunded in full takes back all its tokens."""
    live = [r for r in claims.refunds if r.status not in REFUND_UNDONE]
    if not live or payment.amount <= 0:
        return
    rest = payment.tokens - sum(r.tokens for r in live)
    if sum(r.amount for r in live) < payment.amount or rest <= 0:
        return
    if payment.subscriber_id is None:
        return
    anchor = payment.stripe_invoice_id or payment.stripe_checkout_session_id or str(payment.pk)
    tokens.take_back(
        cast(Subscriber, payment.subscriber),
        rest,
        credit_reference=credit_reference(payment) or "",
        reference=f"refund:{anchor}:rest",
        claimed_before=claims.requested(),
        kind=EntryKind.REFUND,
        forgive_spent=_forgive(),
        description=f"Refund of {payment} (rounding)",
    )


# ---------------------------------------------------------------------- disputes

DISPUTE_RANK = {
    "warning_needs_response": 0,
    "warning_under_review": 1,
    "needs_response": 0,
    "under_review": 1,
}


def record_dispute(dispute: shapes.Dispute, *, event_type: str, at: datetime) -> Dispute:
    """``charge.dispute.*``: record the dispute and hold (or give back) its tokens.

    Every dispute holds its share of the payment's tokens from the moment it
    is opened, like a refund; a dispute closed as lost keeps them, one closed
    in our favour (won, or an inquiry closed) gives them back.
    """
    intent = object_id(dispute.get("payment_intent"))
    charge_id = object_id(dispute.get("charge"))
    payment, claims = _locked_claims(_disputed_payment(intent, charge_id))
    row, created = _dispute_row(dispute, payment, claims, charge_id, at=at)
    was_closed = not created and row.status in DISPUTE_CLOSED
    if not created:
        _advance_dispute(row, str(dispute.get("status") or "needs_response"), at)
    row.amount = int(dispute.get("amount") or row.amount or 0)
    row.tokens = _share(payment, row.amount)
    row.funds_withdrawn = row.funds_withdrawn or event_type.endswith("funds_withdrawn")
    row.funds_reinstated = row.funds_reinstated or event_type.endswith("funds_reinstated")
    _claim(
        payment,
        claims,
        row,
        kind=EntryKind.DISPUTE,
        reference=f"dispute:{row.stripe_dispute_id}",
        given_back=row.status if row.status in DISPUTE_RELEASED else None,
    )
    refresh(payment, claims)
    payment.save(update_fields=["amount_refunded", "status", "modified"])
    _announce_dispute(payment, row, created=created, was_closed=was_closed)
    logger.info(
        "dispute %s of payment %s: %s (%d tokens held)",
        row.stripe_dispute_id,
        payment.pk,
        row.status,
        row.tokens,
    )
    return row


def _disputed_payment(intent: str | None, charge_id: str | None) -> Payment:
    """The disputed payment, ready for its disputes."""
    payment = find(intent, charge_id)
    if payment is None:
        # A dispute does not say whose charge it is: wait for the payment.
        raise waiting.Wait(
            wait_key(intent, charge_id),
            f"the disputed payment of {intent or charge_id} is not recorded yet",
        )
    ready(payment, intent, charge_id)
    return payment


def _dispute_row(
    dispute: shapes.Dispute,
    payment: Payment,
    claims: Claims,
    charge_id: str | None,
    *,
    at: datetime,
) -> tuple[Dispute, bool]:
    """The dispute's row (unsaved if new) and whether it is new."""
    row = next((d for d in claims.disputes if d.stripe_dispute_id == dispute["id"]), None)
    if row is not None:
        return row, False
    row = Dispute(
        stripe_dispute_id=str(dispute["id"]),
        payment=payment,
        stripe_charge_id=charge_id or "",
        currency=str(dispute.get("currency") or payment.currency),
        reason=str(dispute.get("reason") or ""),
        status=str(dispute.get("status") or "needs_response"),
        status_at=at,
    )
    return row, True


def _advance_dispute(row: Dispute, status: str, at: datetime) -> None:
    """Take the event's status unless the row already knows a later one.

    Events arrive out of order: a closed dispute stays closed, and between
    open statuses the newer event wins (on a tie, the further-along status).
    """
    if row.status in DISPUTE_CLOSED:
        return
    if (
        status in DISPUTE_CLOSED
        or row.status_at is None
        or at > row.status_at
        or (at == row.status_at and DISPUTE_RANK.get(status, 0) > DISPUTE_RANK.get(row.status, 0))
    ):
        row.status, row.status_at = status, at


def _announce_dispute(payment: Payment, row: Dispute, *, created: bool, was_closed: bool) -> None:
    """Signal a dispute's opening and its closing once each, after the commit."""
    if created:
        signals.send_on_commit(
            signals.payment_disputed,
            Payment,
            subscriber=payment.subscriber,
            payment=payment,
            dispute_id=row.stripe_dispute_id,
            reason=row.reason or None,
        )
    if row.status in DISPUTE_CLOSED and not was_closed:
        signals.send_on_commit(
            signals.payment_dispute_closed,
            Payment,
            subscriber=payment.subscriber,
            payment=payment,
            dispute_id=row.stripe_dispute_id,
            status=row.status,
        )
