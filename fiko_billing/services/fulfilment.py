"""Fulfilling a completed Checkout: the one idempotent function behind both paths.

The success page's status endpoint and the ``checkout.session.*`` webhooks
both call ``fulfil_checkout_session``; whichever comes first does the work,
the other finds it done. A token package is credited here
(``checkout:<session>``); a subscription's first period is credited by its
first invoice (``invoice:<invoice>``, ``fiko_billing.services.payments``),
whichever of the two arrives first, and both are one payment row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import cast

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fiko_billing import signals, tokens
from fiko_billing import stripe_shapes as shapes
from fiko_billing.models import (
    Customer,
    EntryKind,
    Payment,
    PaymentKind,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from fiko_billing.services import payments, waiting
from fiko_billing.services.checkout_payment import Found, PaidSession, found_with, locked_payment
from fiko_billing.services.stripe_data import (
    expanded,
    invoice_subscription_id,
    object_id,
    state_time,
)
from fiko_billing.services.subscription_state import mirror_subscription, record_status
from fiko_billing.subscribers import Subscriber
from fiko_billing.vocabulary import StripeMode

logger = logging.getLogger("fiko_billing.fulfilment")

#: Payment statuses of a session whose checkout is paid for.
PAID = ("paid", "no_payment_required")


class FulfilmentOutcome(StrEnum):
    """What became of a Checkout Session (a ``str``: logs and JSON show the word)."""

    #: Paid, and fulfilled by this call.
    FULFILLED = "fulfilled"
    ALREADY_FULFILLED = "already_fulfilled"
    #: Not paid yet.
    PENDING = "pending"
    FAILED = "failed"
    EXPIRED = "expired"
    #: Not a session of ours.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Fulfilment:
    payment: Payment | None
    outcome: FulfilmentOutcome


def fulfil_checkout_session(
    session: shapes.CheckoutSession, *, state_at: datetime | None = None
) -> Fulfilment:
    """Apply a Checkout Session's outcome; safe to call any number of times, in any order.

    ``session`` may have ``subscription`` and ``invoice`` expanded (the status
    endpoint asks for that); a webhook's plain ids are enough too: the
    subscription's details and the period's tokens then arrive with the
    ``customer.subscription.*`` and ``invoice.paid`` events.
    """
    status = session.get("status")
    paid = status == "complete" and session.get("payment_status") in PAID
    # No savepoint: nothing here fails on purpose, and whatever fails fails
    # the caller's transaction too (the webhook's or the status request's).
    with transaction.atomic(savepoint=False):
        payment = locked_payment(session, paid=PaidSession.of(session) if paid else None)
        if payment is None:
            logger.info("checkout session %s is not one of ours", session.get("id"))
            return Fulfilment(None, FulfilmentOutcome.UNKNOWN)
        if payment.fulfilled_at is not None:
            return Fulfilment(payment, FulfilmentOutcome.ALREADY_FULFILLED)
        if status == "expired":
            if payment.status == PaymentStatus.PENDING:
                payment.status = PaymentStatus.EXPIRED
                payment.save(update_fields=["status", "modified"])
            return Fulfilment(payment, FulfilmentOutcome.EXPIRED)
        if not paid:
            return Fulfilment(payment, FulfilmentOutcome.PENDING)
        payment = _fulfil(payment, session, state_at=state_at or state_time())
        return Fulfilment(payment, FulfilmentOutcome.FULFILLED)


def fail_checkout_session(session: shapes.CheckoutSession, *, reason: str) -> Fulfilment:
    """A delayed payment method failed after the session completed."""
    with transaction.atomic(savepoint=False):
        payment = locked_payment(session)
        if payment is None:
            return Fulfilment(None, FulfilmentOutcome.UNKNOWN)
        if payment.fulfilled_at is not None:
            return Fulfilment(payment, FulfilmentOutcome.ALREADY_FULFILLED)
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
        return Fulfilment(payment, FulfilmentOutcome.FAILED)


#: What fulfilment writes to the payment row (a subscription's first invoice
#: may have become the row: ``_subscription_paid``).
FULFILLED_FIELDS = [
    "stripe_checkout_session_id",
    "kind",
    "product",
    "quantity",
    "subscription",
    "amount",
    "amount_discount",
    "status",
    "stripe_payment_intent_id",
    "stripe_charge_id",
    "stripe_invoice_id",
    "stripe_subscription_id",
    "credited_at",
    "fulfilled_at",
    "modified",
]


def _purchase_description(payment: Payment) -> str:
    """The package's name, with the quantity in front when more than one was bought."""
    name = str(payment.product) if payment.product else _("Token package")
    if payment.quantity <= 1:
        return name
    return _("%(quantity)d × %(package)s") % {"quantity": payment.quantity, "package": name}  # noqa: RUF001


def _fulfil(payment: Payment, session: shapes.CheckoutSession, *, state_at: datetime) -> Payment:
    subscriber = cast(Subscriber, payment.subscriber)  # checked by the caller
    total = session.get("amount_total")
    payment.amount = int(total) if total is not None else payment.amount
    discount = (session.get("total_details") or {}).get("amount_discount")
    payment.amount_discount = int(discount) if discount else payment.amount_discount
    found = found_with(payment)
    if session.get("mode") == StripeMode.PAYMENT:
        payment.stripe_payment_intent_id = object_id(session.get("payment_intent"))
        tokens.credit(
            subscriber,
            payment.tokens,
            kind=EntryKind.PURCHASE,
            reference=f"checkout:{session['id']}",
            description=_purchase_description(payment),
        )
        payment.credited_at = payment.credited_at or state_at
        _link_ids(payment, found)
    else:
        payment, found = _subscription_paid(payment, session, found, state_at=state_at)
    first_time = payment.fulfilled_at is None
    payment.fulfilled_at = payment.fulfilled_at or timezone.now()
    if not payments.is_paid(payment):
        payment.status = PaymentStatus.SUCCEEDED
    payments.refresh(payment)
    payment.save(update_fields=FULFILLED_FIELDS)
    if first_time:
        signals.send_on_commit(
            signals.payment_succeeded, Payment, subscriber=subscriber, payment=payment
        )
    if found is None or found.waited_for:
        waiting.recorded(payments.wake_keys(payment))
    logger.info(
        "checkout session %s fulfilled for subscriber %s (%s)",
        session["id"],
        payment.subscriber_id,
        payment.get_kind_display(),
    )
    return payment


def _subscription_paid(
    payment: Payment, session: shapes.CheckoutSession, found: Found | None, *, state_at: datetime
) -> tuple[Payment, Found | None]:
    """A paid subscription checkout: its first invoice's payment, and an active subscription.

    ``invoice.paid`` of the first invoice may have been recorded already, as a
    payment of its own; the two are one payment, kept on the invoice's row.
    Returns the payment, and what the locked read found if that still holds
    (not once the invoice's row took over, or the invoice was recorded here).
    """
    invoice_id = object_id(session.get("invoice"))
    subscription_id = object_id(session.get("subscription"))
    read = found  # the customer row is the subscriber's, whichever row is the payment
    if invoice_id:
        recorded = None
        if found is None or found.invoice_payment is not None:
            recorded = (
                Payment.objects.select_for_update()
                .filter(stripe_invoice_id=invoice_id)
                .exclude(pk=payment.pk)
                .first()
            )
        if recorded is not None:
            session_id = payment.stripe_checkout_session_id
            product_id, quantity = payment.product_id, payment.quantity
            payment.delete()
            recorded.stripe_checkout_session_id = session_id
            recorded.kind = PaymentKind.SUBSCRIPTION
            recorded.product_id = recorded.product_id or product_id
            recorded.quantity = quantity
            if recorded.subscriber_id == payment.subscriber_id:
                recorded.subscriber = payment.subscriber  # loaded already
            payment, found = recorded, None
        payment.stripe_invoice_id = invoice_id
    if subscription_id:
        payment.stripe_subscription_id = subscription_id
    subscription_data = expanded(session.get("subscription"))
    if subscription_data is not None:
        payment.subscription = mirror_subscription(
            subscription_data, state_at=state_time(), role="anchor", subscriber=payment.subscriber
        )
    elif subscription_id:
        payment.subscription = _mark_subscription_paid(payment, subscription_id, state_at, read)
    _link_ids(payment, found)
    invoice = expanded(session.get("invoice"))
    if invoice is not None and invoice_subscription_id(invoice):
        payment.save()
        payments.record_invoice(invoice, outcome=payments.InvoiceOutcome.PAID, at=state_at)
        payment.refresh_from_db()
        found = None
    return payment, found


def _link_ids(payment: Payment, found: Found | None) -> None:
    """``payments.link_ids``, from what the locked read found when there is that."""
    if found is None:
        payments.link_ids(payment)
        return
    if payment.stripe_payment_intent_id is None:
        payment.stripe_payment_intent_id = found.payment_intent
    if (
        payment.stripe_charge_id is None
        and payment.stripe_payment_intent_id == found.payment_intent
    ):
        payment.stripe_charge_id = found.charge


def _mark_subscription_paid(
    payment: Payment, subscription_id: str, at: datetime, found: Found | None
) -> Subscription | None:
    """The subscription of a paid checkout is active, whether or not its events came yet.

    Written as what it is, a status learnt from the checkout (incomplete →
    active at the session's time); the subscription's own events fill in the rest.
    """

    def customer_pk() -> int | None:
        if found is not None:
            return found.customer
        row = Customer.objects.filter(subscriber=payment.subscriber).first()
        return row.pk if row is not None else None

    return record_status(
        subscription_id,
        status=SubscriptionStatus.ACTIVE,
        before=SubscriptionStatus.INCOMPLETE,
        at=at,
        subscriber=payment.subscriber,
        create=lambda: {
            "product_id": payment.product_id,
            "quantity": payment.quantity,
            "customer_id": customer_pk(),
            "livemode": payment.livemode,
        },
        lock_held=True,  # fulfilment holds the subscriber's ledger lock
    )
