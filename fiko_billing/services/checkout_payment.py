"""The payment of a Checkout Session, read once under its subscriber's ledger lock.

Fulfilment changes a payment and its subscriber's tokens: it takes the
subscriber's ledger lock first, then the payment row, the order every path
keeps. In the common case that is two statements: one ``UPDATE`` that finds
the subscriber through the payment and locks its account, then one locked
read of the payment that brings everything fulfilment needs along: its
subscriber and product, the succeeded charge already recorded for the
session's PaymentIntent, and whether any event waits for this payment (when
none does, fulfilment skips releasing them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Concat

from fiko_billing import stripe_shapes as shapes
from fiko_billing import tokens
from fiko_billing.conf import billing_settings
from fiko_billing.models import Charge, EventStatus, Payment, WebhookEvent
from fiko_billing.services import waiting
from fiko_billing.services.catalogue_lookup import item_for, subscriber_for
from fiko_billing.services.stripe_data import metadata, object_id
from fiko_billing.subscribers import Subscriber, as_foreign_key
from fiko_billing.tokens.accounts import lock_account_of
from fiko_billing.vocabulary import StripeMode


@dataclass(frozen=True)
class PaidSession:
    """What a paid token-package session tells the locked read to bring along."""

    payment_intent: str | None

    @classmethod
    def of(cls, session: shapes.CheckoutSession) -> PaidSession | None:
        """Only a package's payment is credited from the session itself (a subscription's
        first period is its invoice's): only then is there a charge to link and
        are refunds and disputes waiting for what fulfilment records."""
        if session.get("mode") != StripeMode.PAYMENT:
            return None
        return cls(object_id(session.get("payment_intent")))


def recorded_charge(payment: Payment) -> str | None:
    """The succeeded charge of the session's PaymentIntent that was recorded before."""
    return cast(str | None, getattr(payment, "recorded_charge", None))


def waited_for(payment: Payment) -> bool:
    """Whether an event waited for this payment when it was read (always, if not asked)."""
    return bool(getattr(payment, "waited_for", True))


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
        payment = _read(paid).filter(stripe_checkout_session_id=session_id).first()
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
    return _read(paid).get(pk=payment.pk)


def _read(paid: PaidSession | None) -> QuerySet[Payment]:
    rows = Payment.objects.select_for_update(of=("self",)).select_related("subscriber", "product")
    if paid is None:
        return rows
    charge: Subquery | Value = Value(None, output_field=CharField())
    keys = Q(pk__in=[])
    if paid.payment_intent:
        charge = Subquery(
            Charge.objects.filter(stripe_payment_intent_id=paid.payment_intent, status="succeeded")
            .order_by("-created", "-pk")
            .values("stripe_charge_id")[:1]
        )
        keys |= Q(waiting_for=waiting.payment_intent_key(paid.payment_intent))
    # The keys of ``payments.wake_keys`` once fulfilment has linked the charge.
    keys |= Q(
        waiting_for=Concat(
            Value(waiting.charge_key("")), Coalesce(OuterRef("stripe_charge_id"), charge)
        )
    )
    keys |= Q(waiting_for=Concat(Value(waiting.invoice_key("")), OuterRef("stripe_invoice_id")))
    waiters = WebhookEvent.objects.filter(keys, status=EventStatus.PENDING)
    return rows.annotate(recorded_charge=charge, waited_for=Exists(waiters))


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
