"""``invoice.*``: the period's tokens, renewals, failed and 3D Secure payments."""

from __future__ import annotations

import logging
from typing import Any

from fiko_billing import signals
from fiko_billing.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
    WebhookEvent,
)
from fiko_billing.services.catalogue_lookup import subscriber_for
from fiko_billing.services.fulfilment import grant_for_invoice
from fiko_billing.services.stripe_data import invoice_subscription_id, object_id
from fiko_billing.webhooks.registry import handles

logger = logging.getLogger("fiko_billing.webhooks")


def _payment_intent_id(invoice: dict[str, Any]) -> str | None:
    """Since 2025-03-31 an invoice's payment intents are listed under ``payments``."""
    for item in (invoice.get("payments") or {}).get("data") or []:
        payment = item.get("payment") or {}
        found = object_id(payment.get("payment_intent"))
        if found:
            return found
    return object_id(invoice.get("payment_intent"))


def _subscription_row(invoice: dict[str, Any], *, lock: bool = False) -> Subscription | None:
    subscription_id = invoice_subscription_id(invoice)
    if not subscription_id:
        return None
    rows = Subscription.objects.select_for_update() if lock else Subscription.objects
    return rows.filter(stripe_subscription_id=subscription_id).first()


def _renewal_payment(
    invoice: dict[str, Any], status: str, row: Subscription | None
) -> Payment | None:
    """The payment row of a subscription invoice that no checkout recorded.

    A subscription's first invoice is paid through Checkout and recorded by
    the checkout's payment; later ones (renewals, plan changes) get their own.
    ``row`` is the invoice's subscription, if we have it.
    """
    if invoice.get("billing_reason") == "subscription_create":
        return None
    owner: dict[str, Any]
    if row is not None:
        owner = {"subscriber_id": row.subscriber_id}
    else:
        subscriber = subscriber_for(customer_id=object_id(invoice.get("customer")))
        if subscriber is None:
            return None
        owner = {"subscriber": subscriber}
    payment, _created = Payment.objects.select_for_update().get_or_create(
        stripe_invoice_id=invoice["id"],
        defaults={
            **owner,
            "kind": PaymentKind.RENEWAL,
            "status": status,
            "subscription": row,
            "plan_id": row.plan_id if row else None,
            "package_id": row.package_id if row else None,
            "amount": int(invoice.get("amount_due") or 0),
            "currency": str(invoice.get("currency") or "usd"),
            "livemode": bool(invoice.get("livemode", False)),
        },
    )
    return payment


@handles("invoice.paid")
def invoice_paid(invoice: dict[str, Any], event: WebhookEvent) -> None:
    entry = grant_for_invoice(invoice)
    payment = _renewal_payment(invoice, PaymentStatus.SUCCEEDED, _subscription_row(invoice))
    if payment is None:
        return
    first_time = payment.status != PaymentStatus.SUCCEEDED or payment.fulfilled_at is None
    payment.status = PaymentStatus.SUCCEEDED
    payment.amount = int(invoice.get("amount_paid") or payment.amount)
    payment.tokens = entry.amount if entry is not None else payment.tokens
    payment.stripe_payment_intent_id = payment.stripe_payment_intent_id or _payment_intent_id(
        invoice
    )
    payment.hosted_invoice_url = invoice.get("hosted_invoice_url") or payment.hosted_invoice_url
    payment.fulfilled_at = payment.fulfilled_at or event.stripe_created
    payment.save()
    if first_time:
        signals.send_on_commit(
            signals.payment_succeeded, Payment, subscriber=payment.subscriber, payment=payment
        )


@handles("invoice.payment_failed")
def invoice_payment_failed(invoice: dict[str, Any], event: WebhookEvent) -> None:
    row = _subscription_row(invoice, lock=True)
    if (
        row is not None
        and row.status == SubscriptionStatus.ACTIVE
        and (row.stripe_state_at is None or event.stripe_created >= row.stripe_state_at)
    ):
        # Stripe sends customer.subscription.updated too; this keeps the
        # subscriber's state right even if that event is late.
        row.status = SubscriptionStatus.PAST_DUE
        row.stripe_state_at = event.stripe_created
        row.save(update_fields=["status", "stripe_state_at", "modified"])
    payment = _renewal_payment(invoice, PaymentStatus.FAILED, row)
    subscriber = payment.subscriber if payment else (row.subscriber if row else None)
    if subscriber is None:
        return
    if payment is not None and payment.status not in (PaymentStatus.SUCCEEDED,):
        payment.status = PaymentStatus.FAILED
        payment.hosted_invoice_url = invoice.get("hosted_invoice_url") or ""
        payment.failure_message = "The renewal payment failed."
        payment.save()
    signals.send_on_commit(
        signals.payment_failed,
        Payment,
        subscriber=subscriber,
        payment=payment,
        reason="invoice.payment_failed",
    )
    logger.info(
        "invoice %s payment failed; subscription %s is %s",
        invoice["id"],
        invoice_subscription_id(invoice),
        row.status if row else "unknown",
    )


@handles("invoice.payment_action_required")
def invoice_action_required(invoice: dict[str, Any], event: WebhookEvent) -> None:
    url = invoice.get("hosted_invoice_url") or ""
    payment = _renewal_payment(invoice, PaymentStatus.REQUIRES_ACTION, _subscription_row(invoice))
    if payment is None:
        subscriber = subscriber_for(customer_id=object_id(invoice.get("customer")))
        if subscriber is None:
            return
    else:
        subscriber = payment.subscriber
        if payment.status not in (PaymentStatus.SUCCEEDED,):
            payment.status = PaymentStatus.REQUIRES_ACTION
            payment.hosted_invoice_url = url
            payment.save()
    signals.send_on_commit(
        signals.payment_action_required,
        Payment,
        subscriber=subscriber,
        payment=payment,
        hosted_invoice_url=url or None,
    )
