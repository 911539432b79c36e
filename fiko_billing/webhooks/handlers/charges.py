"""``charge.refunded`` takes back the refunded share of tokens; disputes are recorded."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import Q, Sum

from fiko_billing import signals, tokens
from fiko_billing.models import EntryKind, Payment, PaymentStatus, TokenEntry, WebhookEvent
from fiko_billing.services.stripe_data import object_id
from fiko_billing.webhooks.registry import handles

logger = logging.getLogger("fiko_billing.webhooks")


class PaymentNotYetKnown(RuntimeError):
    """The charge's payment is ours but not fulfilled yet; Stripe's retry will find it."""


def _payment_for_charge(charge: dict[str, Any]) -> Payment | None:
    charge_id = charge["id"]
    intent_id = object_id(charge.get("payment_intent"))
    query = Q(stripe_charge_id=charge_id)
    if intent_id:
        query |= Q(stripe_payment_intent_id=intent_id)
    payment = Payment.objects.select_for_update().filter(query).first()
    if payment is None and (charge.get("metadata") or {}).get("fiko_subscriber"):
        raise PaymentNotYetKnown(f"charge {charge_id} belongs to a payment not yet fulfilled")
    return payment


def _grant_reference(payment: Payment) -> str | None:
    if payment.stripe_checkout_session_id and payment.kind == "token_package":
        return f"checkout:{payment.stripe_checkout_session_id}"
    if payment.stripe_invoice_id:
        return f"invoice:{payment.stripe_invoice_id}"
    return None


@handles("charge.refunded")
def charge_refunded(charge: dict[str, Any], event: WebhookEvent) -> None:
    payment = _payment_for_charge(charge)
    if payment is None:
        return
    refunded = min(int(charge.get("amount_refunded") or 0), payment.amount)
    if refunded <= payment.amount_refunded:
        return  # an older (smaller) cumulative refund arriving late
    payment.stripe_charge_id = payment.stripe_charge_id or charge["id"]
    payment.amount_refunded = refunded
    payment.status = (
        PaymentStatus.REFUNDED if refunded >= payment.amount else PaymentStatus.PARTIALLY_REFUNDED
    )
    payment.save()
    if payment.tokens and payment.amount:
        # Stripe's amount_refunded is cumulative: take back what it now
        # covers, minus what earlier refunds of this charge already took.
        due = payment.tokens * refunded // payment.amount
        taken = -(
            TokenEntry.objects.filter(
                account__subscriber=payment.subscriber,
                kind=EntryKind.REFUND,
                reference__startswith=f"refund:{charge['id']}:",
            ).aggregate(total=Sum("amount"))["total"]
            or 0
        )
        if due > taken:
            tokens.revoke(
                payment.subscriber,
                due - taken,
                reference=f"refund:{charge['id']}:{refunded}",
                grant_reference=_grant_reference(payment),
                description=f"Refund of {payment}",
            )
    logger.info("charge %s refunded %d of %d", charge["id"], refunded, payment.amount)


@handles("charge.dispute.created")
def dispute_created(dispute: dict[str, Any], event: WebhookEvent) -> None:
    charge_id = object_id(dispute.get("charge"))
    intent_id = object_id(dispute.get("payment_intent"))
    query = Q(stripe_charge_id=charge_id) if charge_id else Q(pk__in=[])
    if intent_id:
        query |= Q(stripe_payment_intent_id=intent_id)
    payment = Payment.objects.select_for_update().filter(query).first()
    if payment is None:
        logger.warning("dispute %s on an unknown charge %s", dispute.get("id"), charge_id)
        return
    if payment.status != PaymentStatus.DISPUTED:
        payment.status = PaymentStatus.DISPUTED
        payment.failure_message = f"Disputed: {dispute.get('reason') or 'no reason given'}"
        payment.save()
        signals.send_on_commit(
            signals.payment_disputed,
            Payment,
            subscriber=payment.subscriber,
            payment=payment,
            dispute_id=dispute.get("id"),
            reason=dispute.get("reason"),
        )
