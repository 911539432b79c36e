"""Invoices, the PaymentIntents that paid them, and their charges."""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar, cast

from fiko_billing import signals, tokens
from fiko_billing import stripe_shapes as shapes
from fiko_billing.conf import billing_settings
from fiko_billing.models import (
    Charge,
    InvoicePayment,
    Payment,
    PaymentKind,
    PaymentStatus,
    SubscriptionStatus,
)
from fiko_billing.services import allowance, waiting
from fiko_billing.services.catalogue_lookup import subscriber_for
from fiko_billing.services.payments.common import is_paid, link_ids, locked, refresh, wake_keys
from fiko_billing.services.payments.invoice_facts import InvoiceFacts, invoice_facts
from fiko_billing.services.stripe_data import invoice_subscription_id, metadata, object_id
from fiko_billing.services.subscription_state import record_status
from fiko_billing.subscribers import Subscriber, as_foreign_key

logger = logging.getLogger("fiko_billing.payments")


class InvoiceOutcome(StrEnum):
    """What an ``invoice.*`` event says became of the invoice's payment."""

    PAID = "paid"
    FAILED = "failed"
    ACTION_REQUIRED = "action_required"


INITIAL_STATUS = {
    InvoiceOutcome.PAID: PaymentStatus.PENDING,
    InvoiceOutcome.FAILED: PaymentStatus.FAILED,
    InvoiceOutcome.ACTION_REQUIRED: PaymentStatus.REQUIRES_ACTION,
}
KIND_BY_REASON = {
    "subscription_create": PaymentKind.SUBSCRIPTION,
    "subscription_update": PaymentKind.PLAN_CHANGE,
}


def _invoice_subscriber(invoice: shapes.Invoice) -> Subscriber | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return subscriber_for(
        customer_id=object_id(invoice.get("customer")), metadata=metadata(details)
    )


def _bought_facts(bought: allowance.Allowance | None) -> dict[str, Any]:
    if bought is None:
        return {}
    return {
        "product": bought.item,
        "quantity": bought.quantity,
        "period_start": bought.period_start,
        "period_end": bought.period_end,
    }


def _new_payment(
    invoice: shapes.Invoice,
    subscriber: Subscriber,
    subscription_id: str,
    bought: allowance.Allowance | None,
    outcome: InvoiceOutcome,
    known: InvoiceFacts,
) -> Payment:
    """The unsaved payment row of an invoice seen for the first time."""
    return Payment(
        subscriber=as_foreign_key(subscriber),
        kind=KIND_BY_REASON.get(str(invoice.get("billing_reason")), PaymentKind.RENEWAL),
        status=INITIAL_STATUS[outcome],
        failure_message="The payment failed." if outcome == InvoiceOutcome.FAILED else "",
        hosted_invoice_url=invoice.get("hosted_invoice_url") or "",
        amount=int(invoice.get("amount_due") or 0),
        amount_discount=invoice_discount(invoice),
        currency=str(invoice.get("currency") or billing_settings.CURRENCY),
        stripe_invoice_id=invoice["id"],
        livemode=bool(invoice.get("livemode", False)),
        tokens=bought.tokens if bought is not None else 0,
        stripe_subscription_id=subscription_id,
        subscription_id=known.subscription_pk,
        stripe_payment_intent_id=known.paid_intent,
        **_bought_facts(bought),
    )


def _invoice_payment_row(
    payment_pk: int,
    subscription_id: str,
    bought: allowance.Allowance | None,
    known: InvoiceFacts,
) -> Payment:
    """The stored payment row of an invoice, locked, with what this invoice says of it."""
    # of=("self",): the subscriber is an outer join (it may be erased: NULL).
    row = (
        Payment.objects.select_for_update(of=("self",))
        .select_related("subscriber")
        .get(pk=payment_pk)
    )
    facts: dict[str, Any] = {
        "stripe_subscription_id": subscription_id,
        "subscription_id": known.subscription_pk,
        **_bought_facts(bought),
    }
    fields = []
    for name, value in facts.items():
        if value is not None and getattr(row, name) != value:
            if name == "product" and row.credited_at is not None:
                continue
            setattr(row, name, value)
            fields.append(name)
    if fields:
        row.save(update_fields=[*fields, "modified"])
    return row


def invoice_discount(invoice: shapes.Invoice) -> int:
    """What the invoice's coupons and promotion codes took off, in minor units."""
    return sum(int(d.get("amount") or 0) for d in invoice.get("total_discount_amounts") or [])


def record_invoice(
    invoice: shapes.Invoice, *, outcome: InvoiceOutcome, at: datetime
) -> Payment | None:
    """Record a subscription invoice's outcome: paid, failed, or action required.

    Every invoice of a subscription (first, renewal, plan change, proration)
    gets one payment row, with the plan and subscription its own lines name,
    so the row ends the same whatever order the events arrive in. A paid
    invoice credits what it bought (``fiko_billing.services.allowance``).
    """
    subscription_id = invoice_subscription_id(invoice)
    if not subscription_id:
        return None
    subscriber = _invoice_subscriber(invoice)
    if subscriber is None:
        logger.info("invoice %s belongs to no known subscriber; skipped", invoice["id"])
        return None
    account = tokens.lock_account(subscriber)
    known = invoice_facts(
        account, invoice["id"], subscription_id, period=allowance.line_period(invoice)
    )
    bought = allowance.allowance_for(invoice)
    if known.payment_pk is None:
        payment = _new_payment(invoice, subscriber, subscription_id, bought, outcome, known)
        if outcome != InvoiceOutcome.PAID:
            payment.save(force_insert=True)
    else:
        payment = _invoice_payment_row(known.payment_pk, subscription_id, bought, known)
    if outcome == InvoiceOutcome.PAID:
        _invoice_paid(payment, invoice, subscription_id, bought, at, known)
    elif outcome == InvoiceOutcome.FAILED:
        _invoice_failed(payment, invoice, subscription_id, at)
    else:
        _invoice_action_required(payment, invoice)
    return payment


#: What recording a paid invoice may change on a stored payment row.
PAID_FIELDS = [
    "tokens",
    "credited_at",
    "amount",
    "amount_discount",
    "hosted_invoice_url",
    "failure_message",
    "fulfilled_at",
    "status",
    "stripe_payment_intent_id",
    "stripe_charge_id",
    "modified",
]


def _invoice_paid(
    payment: Payment,
    invoice: shapes.Invoice,
    subscription_id: str,
    bought: allowance.Allowance | None,
    at: datetime,
    known: InvoiceFacts,
) -> None:
    """Credit what the invoice bought (once) and mark its payment succeeded.

    A payment seen for the first time is inserted here, in its final state,
    after the credit: one statement instead of an insert and an update.
    """
    if payment.credited_at is None:
        if bought is None:
            logger.warning(
                "invoice %s: no known plan or package; no tokens granted", invoice["id"]
            )
        entry = (
            allowance.grant(
                cast(Subscriber, payment.subscriber),
                invoice,
                bought,
                subscription_id=subscription_id,
                overlapping=known.overlapping,
            )
            if bought is not None and payment.subscriber_id is not None
            else None
        )
        payment.tokens = entry.amount if entry is not None else 0
        payment.credited_at = at
    payment.amount = int(invoice.get("amount_paid") or 0) or payment.amount
    payment.amount_discount = invoice_discount(invoice) or payment.amount_discount
    payment.hosted_invoice_url = invoice.get("hosted_invoice_url") or payment.hosted_invoice_url
    payment.failure_message = ""
    first_time = payment.fulfilled_at is None
    payment.fulfilled_at = payment.fulfilled_at or at
    payment.stripe_payment_intent_id = payment.stripe_payment_intent_id or known.paid_intent
    link_ids(payment, intent_looked_up=True)
    refresh(payment)
    if payment.pk is None:
        payment.save(force_insert=True)
    else:
        payment.save(update_fields=PAID_FIELDS)
    if first_time:
        signals.send_on_commit(
            signals.payment_succeeded, Payment, subscriber=payment.subscriber, payment=payment
        )
    if known.waited_for:
        waiting.recorded(wake_keys(payment))


def _invoice_failed(
    payment: Payment, invoice: shapes.Invoice, subscription_id: str, at: datetime
) -> None:
    if not is_paid(payment):
        _update(
            payment,
            status=PaymentStatus.FAILED,
            hosted_invoice_url=invoice.get("hosted_invoice_url") or "",
            failure_message="The payment failed.",
        )
        signals.send_on_commit(
            signals.payment_failed,
            Payment,
            subscriber=payment.subscriber,
            payment=payment,
            reason="invoice.payment_failed",
        )
    if invoice.get("billing_reason") != "subscription_create":
        # Stripe sends customer.subscription.updated too; this keeps the state
        # right if that event is late. It writes the status alone.
        record_status(
            subscription_id,
            status=SubscriptionStatus.PAST_DUE,
            before=SubscriptionStatus.ACTIVE,
            at=at,
            subscriber=payment.subscriber,
            lock_held=True,
        )


def _update(payment: Payment, **values: Any) -> None:
    changed = [name for name, value in values.items() if getattr(payment, name) != value]
    for name in changed:
        setattr(payment, name, values[name])
    if changed:
        payment.save(update_fields=[*changed, "modified"])


def _invoice_action_required(payment: Payment, invoice: shapes.Invoice) -> None:
    url = invoice.get("hosted_invoice_url") or ""
    if not is_paid(payment):
        _update(payment, status=PaymentStatus.REQUIRES_ACTION, hosted_invoice_url=url)
    signals.send_on_commit(
        signals.payment_action_required,
        Payment,
        subscriber=payment.subscriber,
        payment=payment,
        hosted_invoice_url=url or None,
    )


def record_invoice_payment(obj: shapes.InvoicePayment) -> None:
    """``invoice_payment.paid``: which PaymentIntent paid which invoice."""
    paid_by = obj.get("payment") or {}
    intent = object_id(paid_by.get("payment_intent"))
    charge = object_id(paid_by.get("charge"))
    values = {
        "stripe_invoice_id": str(object_id(obj.get("invoice"))),
        "stripe_payment_intent_id": intent,
        "amount_paid": int(obj.get("amount_paid") or 0),
        "currency": str(obj.get("currency") or ""),
        "status": str(obj.get("status") or ""),
    }
    payment = (
        Payment.objects.select_related("subscriber")
        .filter(stripe_invoice_id=values["stripe_invoice_id"])
        .first()
    )
    if payment is not None and payment.stripe_payment_intent_id is None:
        payment = locked(payment)
    else:
        payment = None  # nothing of it to fill in
    _upsert(InvoicePayment, {"stripe_id": str(obj["id"])}, values)
    if payment is not None:
        if charge and values["status"] == "paid":
            _record_charge_link(charge, intent, obj)
        changed = link_ids(payment)
        if changed:
            payment.save(update_fields=[*changed, "modified"])
        waiting.recorded(wake_keys(payment))
    waiting.recorded([waiting.payment_intent_key(intent) if intent else None])


def _record_charge_link(charge_id: str, intent: str | None, obj: shapes.InvoicePayment) -> None:
    _upsert(
        Charge,
        {"stripe_charge_id": charge_id},
        {
            "stripe_payment_intent_id": intent,
            "amount": int(obj.get("amount_paid") or 0),
            "currency": str(obj.get("currency") or ""),
            "status": "succeeded",
        },
    )


_Mirror = TypeVar("_Mirror", Charge, InvoicePayment)


def _upsert(model: type[_Mirror], lookup: dict[str, Any], values: dict[str, Any]) -> None:
    """Insert or update a mirror row of one Stripe object, in one statement."""
    model.objects.bulk_create(
        [model(**lookup, **values)],
        update_conflicts=True,
        unique_fields=list(lookup),
        update_fields=list(values),
    )


def record_charge(charge: shapes.Charge) -> None:
    """``charge.*``: remember which PaymentIntent a charge belongs to."""
    intent = object_id(charge.get("payment_intent"))
    status = str(charge.get("status") or "")
    payment = Payment.objects.filter(stripe_payment_intent_id=intent).first() if intent else None
    if payment is not None:
        payment = locked(payment)
    _upsert(
        Charge,
        {"stripe_charge_id": str(charge["id"])},
        {
            "stripe_payment_intent_id": intent,
            "amount": int(charge.get("amount") or 0),
            "currency": str(charge.get("currency") or ""),
            "status": status,
        },
    )
    if payment is not None and status == "succeeded" and payment.stripe_charge_id is None:
        changed = link_ids(payment)
        if changed:
            payment.save(update_fields=[*changed, "modified"])
    waiting.recorded([waiting.charge_key(str(charge["id"]))])
