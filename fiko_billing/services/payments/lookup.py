"""Which payment of ours a refund or a dispute is of, or why it must wait."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.db.models import Q, QuerySet
from django.utils import timezone

from fiko_billing import stripe_shapes as shapes
from fiko_billing.compiled_query import CompiledQuery, columns, loaded
from fiko_billing.models import Charge, InvoicePayment, Payment, PaymentKind, PaymentStatus
from fiko_billing.services import waiting
from fiko_billing.services.catalogue_lookup import subscriber_for
from fiko_billing.services.payments.invoices import record_invoice_payment
from fiko_billing.services.stripe_data import metadata, object_id, ts
from fiko_billing.subscribers import as_foreign_key, get_subscriber_model

#: How long a refund of an unknown charge of one of our customers waits for
#: its payment before Stripe is asked whether it paid an invoice at all.
ASK_STRIPE_AFTER = timedelta(hours=1)


def _with_subscriber(where: Q) -> QuerySet[Any, Any]:
    payments = Payment.objects.filter(where).order_by("pk")
    # The plugin types .values() of unpacked names as Any.
    return cast(
        "QuerySet[Any, Any]",
        payments.values(*columns(Payment), *columns(get_subscriber_model(), "subscriber__")),
    )


# Read for every refund and dispute: compiled once (``compiled_query``).
_BY_INTENT = CompiledQuery(
    lambda intent: _with_subscriber(Q(stripe_payment_intent_id=intent)), intent=str
)
_BY_CHARGE = CompiledQuery(lambda charge: _with_subscriber(Q(stripe_charge_id=charge)), charge=str)
_BY_INTENT_OR_CHARGE = CompiledQuery(
    lambda intent, charge: _with_subscriber(
        Q(stripe_payment_intent_id=intent) | Q(stripe_charge_id=charge)
    ),
    intent=str,
    charge=str,
)


def _payment(query: CompiledQuery, **values: str) -> Payment | None:
    """The first payment ``query`` finds, with its subscriber (as ``select_related`` loads it)."""
    row = query.first(**values)
    return (
        None if row is None else loaded(Payment, row, query.db, subscriber=get_subscriber_model())
    )


def find(intent: str | None, charge_id: str | None) -> Payment | None:
    """Our payment of a PaymentIntent or charge; ``Wait`` if its invoice is not recorded yet."""
    if not intent and charge_id:
        intent = (
            Charge.objects.filter(stripe_charge_id=charge_id)
            .values_list("stripe_payment_intent_id", flat=True)
            .first()
        )
    if intent and charge_id:
        payment = _payment(_BY_INTENT_OR_CHARGE, intent=intent, charge=charge_id)
    elif intent:
        payment = _payment(_BY_INTENT, intent=intent)
    elif charge_id:
        payment = _payment(_BY_CHARGE, charge=charge_id)
    else:
        return None
    if payment is not None or not intent:
        return payment
    invoices = list(
        InvoicePayment.objects.filter(stripe_payment_intent_id=intent).values_list(
            "stripe_invoice_id", flat=True
        )
    )
    for invoice_id in invoices:
        payment = (
            Payment.objects.select_related("subscriber")
            .filter(stripe_invoice_id=invoice_id)
            .first()
        )
        if payment is not None:
            return payment
    if invoices:
        raise waiting.Wait(
            waiting.invoice_key(invoices[0]),
            f"invoice {invoices[0]} (paid by {intent}) is not recorded yet",
        )
    return None


def wait_key(intent: str | None, charge_id: str | None) -> str:
    if intent:
        return waiting.payment_intent_key(intent)
    return waiting.charge_key(str(charge_id))


def refunded_payment(refund: shapes.Refund, charge: shapes.Charge | None) -> Payment | None:
    """The payment a refund belongs to; ``Wait`` if it is ours but not recorded yet."""
    intent = object_id(refund.get("payment_intent"))
    charge_id = object_id(refund.get("charge"))
    payment = find(intent, charge_id)
    if payment is not None:
        return payment
    described = f"the payment of {intent or charge_id} is not recorded yet"
    if metadata(charge).get("fiko_subscriber"):
        raise waiting.Wait(wait_key(intent, charge_id), described)
    subscriber = subscriber_for(
        customer_id=object_id(refund.get("customer") or (charge or {}).get("customer"))
    )
    if subscriber is None:
        return None  # a charge of someone who is not our customer
    pending_package = Payment.objects.filter(
        subscriber=as_foreign_key(subscriber),
        kind=PaymentKind.TOKEN_PACKAGE,
        stripe_payment_intent_id__isnull=True,
        status__in=[PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION],
    ).exists()
    created = ts(refund.get("created"))
    young = created is None or timezone.now() - created < ASK_STRIPE_AFTER
    if pending_package or not intent or young:
        # Its invoice_payment.paid (or checkout) is on its way, most likely.
        raise waiting.Wait(wait_key(intent, charge_id), described)
    # Still unexplained long after it was made: only Stripe can say whether
    # it paid an invoice of ours, or was made outside fiko_billing (one call).
    from fiko_billing.gateway import get_gateway

    found = list(get_gateway().list_invoice_payments(payment_intent=intent))
    for obj in found:
        record_invoice_payment(obj)
    if not found:
        return None  # a charge made outside fiko_billing
    return find(intent, charge_id)


def ready(payment: Payment, intent: str | None, charge_id: str | None) -> None:
    """Refunds and disputes act on what the payment credited: they wait for it."""
    if payment.credited_at is None:
        key = (
            waiting.invoice_key(payment.stripe_invoice_id)
            if payment.stripe_invoice_id
            else wait_key(intent, charge_id)
        )
        raise waiting.Wait(key, f"the tokens of payment {payment.pk} are not credited yet")
