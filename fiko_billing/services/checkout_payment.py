"""The payment of a Checkout Session, read once under its subscriber's ledger lock.

Fulfilment changes a payment and its subscriber's tokens: it takes the
subscriber's ledger lock first, then the payment row, the order every path
keeps. In the common case that is two statements: one ``UPDATE`` that finds
the subscriber through the payment and locks its account, then one locked
read of the payment that brings along everything else fulfilment needs to
know: its subscriber and product, the PaymentIntent and succeeded charge
already recorded for it, the row ``invoice.paid`` may have made for a
subscription's first invoice, the subscriber's customer row, and whether any
event waits for the payment (when none does, fulfilment releases none).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial
from typing import Any, cast

from django.db.models import (
    BigIntegerField,
    CharField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Concat

from fiko_billing import stripe_shapes as shapes
from fiko_billing import tokens
from fiko_billing.compiled_query import CompiledQuery, columns, loaded
from fiko_billing.conf import billing_settings
from fiko_billing.models import (
    Charge,
    Customer,
    EventStatus,
    InvoicePayment,
    Payment,
    Product,
    WebhookEvent,
)
from fiko_billing.services import waiting
from fiko_billing.services.catalogue_lookup import item_for, subscriber_for
from fiko_billing.services.stripe_data import metadata, object_id
from fiko_billing.subscribers import Subscriber, as_foreign_key, get_subscriber_model
from fiko_billing.tokens.accounts import lock_account_of
from fiko_billing.vocabulary import StripeMode


@dataclass(frozen=True)
class PaidSession:
    """What a paid session tells the locked read to bring along."""

    #: A token package's (``mode=payment``), whose PaymentIntent the session names;
    #: a subscription's first payment is its first invoice's.
    package: bool
    payment_intent: str | None
    invoice: str | None

    @classmethod
    def of(cls, session: shapes.CheckoutSession) -> PaidSession:
        if session.get("mode") == StripeMode.PAYMENT:
            return cls(True, object_id(session.get("payment_intent")), None)
        return cls(False, None, object_id(session.get("invoice")))


@dataclass(frozen=True)
class Found:
    """What the locked read found recorded, for fulfilment to link without asking again."""

    #: The PaymentIntent (the session's, or the one that paid its invoice).
    payment_intent: str | None
    #: Its succeeded charge.
    charge: str | None
    #: Another payment row of the session's invoice (``invoice.paid`` came first).
    invoice_payment: int | None
    #: The subscriber's Stripe customer row.
    customer: int | None
    #: Whether an event waited for the payment (by ``payments.wake_keys``) when it was read.
    waited_for: bool


def found_with(payment: Payment) -> Found | None:
    """What ``locked_payment(..., paid=...)`` read along with the payment; ``None`` otherwise."""
    if not hasattr(payment, "recorded_waited_for"):
        return None
    annotated = vars(payment)
    return Found(
        payment_intent=annotated["recorded_intent"],
        charge=annotated["recorded_charge"],
        invoice_payment=annotated["recorded_invoice_payment"],
        customer=annotated["recorded_customer"],
        waited_for=bool(annotated["recorded_waited_for"]),
    )


def locked_payment(
    session: shapes.CheckoutSession, *, paid: PaidSession | None = None
) -> Payment | None:
    """The session's payment row, locked after its subscriber's ledger lock.

    ``None`` when the session is not ours, or its subscriber's billing data
    was erased. A session created outside our endpoint (another server, the
    dashboard) gets its row from the metadata we put on it.
    """
    session_id = session["id"]
    of_session = Payment.objects.filter(stripe_checkout_session_id=session_id)
    if lock_account_of(of_session.values("subscriber_id")):
        payment = _read(paid, session_id=session_id)
        if payment is not None:
            # Erased since the lock found it, at most: a payment keeps its subscriber.
            return payment if payment.subscriber_id is not None else None
    # No lock taken: the subscriber has no ledger account yet (a first
    # purchase), or there is no row (yet), or its subscriber was erased.
    payment = of_session.select_related("subscriber").first()
    if payment is None:
        payment = _recovered(session)
        if payment is None:
            return None
    elif payment.subscriber_id is None:
        return None
    else:
        tokens.lock_account(cast(Subscriber, payment.subscriber))
    found = _read(paid, pk=payment.pk)
    if found is None:  # pragma: no cover - payments are never deleted
        raise Payment.DoesNotExist(f"payment {payment.pk} vanished under the lock")
    return found


@dataclass(frozen=True)
class _Shape:
    """What the locked read's SQL depends on, besides its values."""

    by_session: bool
    paid: bool
    package: bool
    invoice: bool


#: The annotations of a read for a paid session, which ``found_with`` reads back.
_RECORDED = (
    "recorded_intent",
    "recorded_invoice_payment",
    "recorded_customer",
    "recorded_charge",
    "recorded_waited_for",
)


def _read(
    paid: PaidSession | None, *, session_id: str | None = None, pk: int | None = None
) -> Payment | None:
    """The payment (of ``session_id``, or ``pk``), locked, with its subscriber and product,
    and for a ``paid`` session what ``found_with`` returns."""
    shape = _Shape(
        by_session=session_id is not None,
        paid=paid is not None,
        package=paid is not None and paid.package,
        invoice=paid is not None and not paid.package and bool(paid.invoice),
    )
    values: dict[str, Any] = {"session_id": session_id} if shape.by_session else {"pk": pk}
    if shape.package:
        values["payment_intent"] = cast(PaidSession, paid).payment_intent
    if shape.invoice:
        values["invoice"] = cast(PaidSession, paid).invoice
    query = _compiled(shape)
    row = query.first(**values)
    if row is None:
        return None
    payment = loaded(Payment, row, query.db, subscriber=get_subscriber_model(), product=Product)
    if shape.paid:
        for name in _RECORDED:
            setattr(payment, name, row[name])
    return payment


@cache
def _compiled(shape: _Shape) -> CompiledQuery:
    """The locked read of ``shape``, compiled once (``compiled_query``): every checkout
    webhook and status poll runs it."""
    names: dict[str, Any] = {"session_id": str} if shape.by_session else {"pk": int}
    if shape.package:
        names["payment_intent"] = str | None
    if shape.invoice:
        names["invoice"] = str
    return CompiledQuery(partial(_read_query, shape), **names)


def _read_query(shape: _Shape, **values: Any) -> QuerySet[Any, Any]:
    where = (
        Q(stripe_checkout_session_id=values["session_id"])
        if shape.by_session
        else Q(pk=values["pk"])
    )
    rows = Payment.objects.select_for_update(of=("self",)).filter(where)
    names = [
        *columns(Payment),
        *columns(get_subscriber_model(), "subscriber__"),
        *columns(Product, "product__"),
    ]
    if not shape.paid:
        return cast("QuerySet[Any, Any]", rows.values(*names))
    text = CharField()
    invoice = values.get("invoice")
    intent: F | Value | Coalesce = F("stripe_payment_intent_id")
    if shape.package:
        # Fulfilment records the session's.
        intent = Value(values["payment_intent"], output_field=text)
    other: Value | Subquery = Value(None, output_field=BigIntegerField())
    if shape.invoice:
        # What ``payments.link_ids`` would look up: the PaymentIntent that paid the invoice.
        paying = InvoicePayment.objects.filter(
            stripe_invoice_id=invoice, status="paid", stripe_payment_intent_id__isnull=False
        )
        intent = Coalesce(
            F("stripe_payment_intent_id"),
            Subquery(paying.order_by("-created", "-pk").values("stripe_payment_intent_id")[:1]),
        )
        other = Subquery(
            Payment.objects.filter(stripe_invoice_id=invoice)
            .exclude(pk=OuterRef("pk"))
            .order_by()
            .values("pk")[:1]
        )
    customer: Value | Subquery = Value(None, output_field=BigIntegerField())
    if not shape.package:
        # For the subscription's row, when fulfilment makes it.
        customer = Subquery(
            Customer.objects.filter(subscriber=OuterRef("subscriber_id"))
            .order_by()
            .values("pk")[:1]
        )
    rows = rows.annotate(
        recorded_intent=intent, recorded_invoice_payment=other, recorded_customer=customer
    )
    rows = rows.annotate(
        recorded_charge=Subquery(
            Charge.objects.filter(
                stripe_payment_intent_id=OuterRef("recorded_intent"), status="succeeded"
            )
            .order_by("-created", "-pk")
            .values("stripe_charge_id")[:1]
        )
    )
    # The keys of ``payments.wake_keys`` once fulfilment has linked what is recorded.
    keys = (
        Q(waiting_for=Concat(Value(waiting.payment_intent_key("")), OuterRef("recorded_intent")))
        | Q(
            waiting_for=Concat(
                Value(waiting.charge_key("")),
                Coalesce(OuterRef("stripe_charge_id"), OuterRef("recorded_charge")),
            )
        )
        | Q(
            waiting_for=Concat(
                Value(waiting.invoice_key("")),
                Coalesce(OuterRef("stripe_invoice_id"), Value(invoice, output_field=text)),
            )
        )
    )
    waiters = WebhookEvent.objects.filter(keys, status=EventStatus.PENDING)
    rows = rows.annotate(recorded_waited_for=Exists(waiters))
    return cast("QuerySet[Any, Any]", rows.values(*names, *_RECORDED))


def _recovered(session: shapes.CheckoutSession) -> Payment | None:
    """The row of a session of ours that has none, made from its metadata (locked first)."""
    meta = metadata(session)
    subscriber = subscriber_for(customer_id=object_id(session.get("customer")), metadata=meta)
    item, _price = item_for(price_id=None, product_id=None, metadata=meta)
    if subscriber is None or item is None:
        return None
    quantity = int(meta.get("fiko_quantity") or 1)
    tokens.lock_account(subscriber)
    payment, _created = Payment.objects.get_or_create(
        stripe_checkout_session_id=session["id"],
        defaults={
            "subscriber": as_foreign_key(subscriber),
            "kind": item.product_kind.rules.first_payment,
            "product": item,
            "quantity": quantity,
            "amount": int(session.get("amount_total") or 0),
            "currency": str(session.get("currency") or billing_settings.CURRENCY),
            "tokens": item.tokens_for(quantity),
        },
    )
    return payment
