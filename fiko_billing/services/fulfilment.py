"""Fulfilling a completed Checkout: the one idempotent function behind both paths.

The success page's status endpoint and the ``checkout.session.*`` webhooks
both call ``fulfil_checkout_session``; whichever comes first does the work,
the other finds it done. Token credits carry the Stripe id they pay for
(``checkout:<session>`` or ``invoice:<invoice>``), so they happen once even
when ``invoice.paid`` grants the same period.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from fiko_billing import signals, tokens
from fiko_billing.conf import billing_settings
from fiko_billing.models import (
    Customer,
    EntryKind,
    Payment,
    PaymentKind,
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
    TokenEntry,
    TokenPackage,
)
from fiko_billing.services.catalogue_lookup import item_for, subscriber_for
from fiko_billing.services.stripe_data import (
    expanded,
    invoice_subscription_id,
    metadata,
    object_id,
    state_time,
    ts,
)
from fiko_billing.services.subscriptions import mirror_subscription

logger = logging.getLogger("fiko_billing.fulfilment")

GRANTING_REASONS = frozenset({"subscription_create", "subscription_cycle"})


@dataclass(frozen=True)
class Fulfilment:
    payment: Payment | None
    #: "fulfilled" (done now), "already_fulfilled", "pending" (not paid yet),
    #: "failed", "expired" or "unknown" (not a session of ours).
    outcome: str


def grant_for_invoice(invoice: dict[str, Any]) -> TokenEntry | None:
    """Credit the tokens a paid subscription invoice buys, once per invoice.

    A plan grants ``tokens_per_period`` for the invoiced period, expiring at its
    end unless ``TOKEN_ROLLOVER``; a recurring token package credits its tokens.
    """
    if invoice.get("billing_reason") not in GRANTING_REASONS:
        return None
    lines = (invoice.get("lines") or {}).get("data") or []
    if not lines:
        return None
    line = lines[0]
    details = (line.get("pricing") or {}).get("price_details") or {}
    price_id = object_id(details.get("price")) or object_id(line.get("price"))
    product_id = object_id(details.get("product"))
    item, _price = item_for(price_id=price_id, product_id=product_id, metadata=metadata(line))
    subscriber = subscriber_for(customer_id=object_id(invoice.get("customer")))
    if item is None or subscriber is None:
        logger.warning("invoice %s: no known item or subscriber; no tokens granted", invoice["id"])
        return None
    quantity = int(line.get("quantity") or 1)
    reference = f"invoice:{invoice['id']}"
    if isinstance(item, Plan):
        if item.tokens_per_period == 0:
            return None
        period_end = ts((line.get("period") or {}).get("end"))
        expires_at = None
        if not billing_settings.TOKEN_ROLLOVER and period_end is not None:
            if period_end <= timezone.now():
                logger.info("invoice %s: its period is over; no tokens granted", invoice["id"])
                return None
            expires_at = period_end
        return tokens.credit(
            subscriber,
            item.tokens_per_period * quantity,
            kind=EntryKind.GRANT,
            reference=reference,
            expires_at=expires_at,
            description=f"{item.name} allowance",
        )
    return tokens.credit(
        subscriber,
        item.tokens * quantity,
        kind=EntryKind.PURCHASE,
        reference=reference,
        description=f"{item.name} (recurring)",
    )


def _payment_for(session: dict[str, Any]) -> Payment | None:
    session_id = session["id"]
    payment = (
        Payment.objects.select_for_update().filter(stripe_checkout_session_id=session_id).first()
    )
    if payment is not None:
        return payment
    # A session created outside our endpoint (another server, the dashboard)
    # still leads back to us through the metadata we put on it.
    meta = metadata(session)
    subscriber = subscriber_for(customer_id=object_id(session.get("customer")), metadata=meta)
    item, _price = item_for(price_id=None, product_id=None, metadata=meta)
    if subscriber is None or item is None:
        return None
    quantity = int(meta.get("fiko_quantity") or 1)
    payment, _created = Payment.objects.get_or_create(
        stripe_checkout_session_id=session_id,
        defaults={
            "subscriber": subscriber,
            "kind": PaymentKind.SUBSCRIPTION
            if isinstance(item, Plan)
            else PaymentKind.TOKEN_PACKAGE,
            "plan": item if isinstance(item, Plan) else None,
            "package": item if isinstance(item, TokenPackage) else None,
            "quantity": quantity,
            "amount": int(session.get("amount_total") or 0),
            "currency": str(session.get("currency") or billing_settings.CURRENCY),
            "tokens": (item.tokens_per_period if isinstance(item, Plan) else item.tokens)
            * quantity,
        },
    )
    return Payment.objects.select_for_update().get(pk=payment.pk)


def fulfil_checkout_session(
    session: dict[str, Any], *, state_at: datetime | None = None
) -> Fulfilment:
    """Apply a Checkout Session's outcome; safe to call any number of times, in any order.

    ``session`` may have ``subscription`` and ``invoice`` expanded (the status
    endpoint asks for that); a webhook's plain ids are enough too: the
    subscription's details and the period's tokens then arrive with the
    ``customer.subscription.*`` and ``invoice.paid`` events.
    """
    with transaction.atomic():
        payment = _payment_for(session)
        if payment is None:
            logger.info("checkout session %s is not one of ours", session.get("id"))
            return Fulfilment(None, "unknown")
        if payment.fulfilled_at is not None:
            return Fulfilment(payment, "already_fulfilled")
        status = session.get("status")
        paid = session.get("payment_status") in ("paid", "no_payment_required")
        if status == "expired":
            if payment.status == PaymentStatus.PENDING:
                payment.status = PaymentStatus.EXPIRED
                payment.save(update_fields=["status", "modified"])
            return Fulfilment(payment, "expired")
        if status != "complete" or not paid:
            return Fulfilment(payment, "pending")
        _fulfil(payment, session, state_at=state_at or state_time())
        return Fulfilment(payment, "fulfilled")


def fail_checkout_session(session: dict[str, Any], *, reason: str) -> Fulfilment:
    """A delayed payment method failed after the session completed."""
    with transaction.atomic():
        payment = _payment_for(session)
        if payment is None:
            return Fulfilment(None, "unknown")
        if payment.fulfilled_at is not None:
            return Fulfilment(payment, "already_fulfilled")
        if payment.status != PaymentStatus.FAILED:
            payment.status = PaymentStatus.FAILED
            payment.failure_message = reason
            payment.save(update_fields=["status", "failure_message", "modified"])
            signals.send_on_commit(
                signals.payment_failed,
                Payment,
                subscriber=payment.subscriber,
                payment=payment,
                reason=reason,
            )
        return Fulfilment(payment, "failed")


def _fulfil(payment: Payment, session: dict[str, Any], *, state_at: datetime) -> None:
    subscriber = payment.subscriber
    total = session.get("amount_total")
    payment.amount = int(total) if total is not None else payment.amount
    payment.stripe_payment_intent_id = object_id(session.get("payment_intent"))
    payment.stripe_invoice_id = object_id(session.get("invoice"))
    subscription_data = expanded(session.get("subscription"))
    if subscription_data is not None:
        payment.subscription = mirror_subscription(
            subscription_data, state_at=state_at, subscriber=subscriber
        )
    elif session.get("subscription"):
        _mark_subscription_paid(payment, str(session["subscription"]))
    invoice = expanded(session.get("invoice"))
    if session.get("mode") == "payment":
        tokens.credit(
            subscriber,
            payment.tokens,
            kind=EntryKind.PURCHASE,
            reference=f"checkout:{session['id']}",
            description=str(payment.package or "Token package"),
        )
    elif invoice is not None and invoice_subscription_id(invoice):
        grant_for_invoice(invoice)
    payment.status = PaymentStatus.SUCCEEDED
    payment.fulfilled_at = timezone.now()
    payment.save()
    signals.send_on_commit(
        signals.payment_succeeded, Payment, subscriber=subscriber, payment=payment
    )
    logger.info(
        "checkout session %s fulfilled for subscriber %s (%s)",
        session["id"],
        payment.subscriber_id,
        payment.get_kind_display(),
    )


def _mark_subscription_paid(payment: Payment, subscription_id: str) -> None:
    """A paid subscription checkout whose subscription details have not arrived yet.

    The row is created active with no ``stripe_state_at``, so the first
    ``customer.subscription.*`` event fills it in whatever its time.
    """
    row = (
        Subscription.objects.select_for_update()
        .filter(stripe_subscription_id=subscription_id)
        .first()
    )
    if row is None:
        row = Subscription.objects.create(
            subscriber=payment.subscriber,
            stripe_subscription_id=subscription_id,
            plan=payment.plan,
            package=payment.package,
            quantity=payment.quantity,
            status=SubscriptionStatus.ACTIVE,
            customer=Customer.objects.filter(subscriber=payment.subscriber).first(),
        )
        signals.send_on_commit(
            signals.subscription_activated,
            Subscription,
            subscriber=payment.subscriber,
            subscription=row,
        )
    payment.subscription = row
