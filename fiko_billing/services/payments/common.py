"""What the payment modules share: a payment's state, its ids, its claims, its lock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.db import connection
from django.db.models import BooleanField, DateTimeField, F, QuerySet, Value

from fiko_billing import tokens
from fiko_billing.compiled_query import CompiledQuery, columns, loaded
from fiko_billing.models import (
    Charge,
    Dispute,
    InvoicePayment,
    Payment,
    PaymentStatus,
    Refund,
)
from fiko_billing.services import allowance, waiting
from fiko_billing.subscribers import Subscriber

#: Payment statuses reached only once the money arrived.
PAID_STATUSES = frozenset(
    {
        PaymentStatus.SUCCEEDED,
        PaymentStatus.REFUNDED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.DISPUTED,
        PaymentStatus.DISPUTE_LOST,
    }
)
#: Refund statuses after which the money did not go back.
REFUND_UNDONE = frozenset({"failed", "canceled"})
#: Dispute statuses that end a dispute, and those that end it in our favour.
DISPUTE_CLOSED = frozenset({"won", "lost", "warning_closed", "prevented"})
DISPUTE_RELEASED = frozenset({"won", "warning_closed", "prevented"})


#: Statuses that say a payment has refunds or disputes.
CLAIMED_STATUSES = frozenset(
    {
        PaymentStatus.REFUNDED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.DISPUTED,
        PaymentStatus.DISPUTE_LOST,
    }
)


def is_paid(payment: Payment) -> bool:
    return payment.status in PAID_STATUSES or payment.credited_at is not None


def credit_reference(payment: Payment) -> str | None:
    """The ledger reference of the credit this payment bought."""
    if payment.stripe_invoice_id:
        return allowance.credit_reference(payment.stripe_invoice_id)
    if payment.stripe_checkout_session_id:
        return f"checkout:{payment.stripe_checkout_session_id}"
    return None


def wake_keys(payment: Payment) -> list[str]:
    """The keys under which refunds and disputes of this payment may be waiting."""
    # A refund of another PaymentIntent of the invoice waits on the invoice's key.
    keys = [
        waiting.payment_intent_key(payment.stripe_payment_intent_id)
        if payment.stripe_payment_intent_id
        else None,
        waiting.charge_key(payment.stripe_charge_id) if payment.stripe_charge_id else None,
        waiting.invoice_key(payment.stripe_invoice_id) if payment.stripe_invoice_id else None,
    ]
    return [key for key in keys if key]


# Every refund and dispute locks its payment: compiled once (``compiled_query``).
_LOCKED = CompiledQuery(
    lambda pk: Payment.objects.select_for_update().filter(pk=pk).values(*columns(Payment)),
    pk=int,
)


def locked(payment: Payment) -> Payment:
    """The payment, locked after its subscriber's ledger lock (none once erased)."""
    if payment.subscriber_id is not None:
        tokens.lock_account(cast(Subscriber, payment.subscriber))
    found = _LOCKED.first(pk=payment.pk)
    if found is None:
        raise Payment.DoesNotExist(f"payment {payment.pk} does not exist")
    row = loaded(Payment, found, _LOCKED.db)
    row.subscriber = payment.subscriber
    return row


def link_ids(payment: Payment, *, intent_looked_up: bool = False) -> list[str]:
    """Fill in the payment's PaymentIntent and charge from what Stripe already told us.

    ``intent_looked_up``: the invoice's paying PaymentIntent was read already
    (``invoice_facts``); a payment without one has none recorded yet.
    """
    changed = []
    if (
        payment.stripe_payment_intent_id is None
        and payment.stripe_invoice_id
        and not intent_looked_up
    ):
        intent = (
            InvoicePayment.objects.filter(
                stripe_invoice_id=payment.stripe_invoice_id,
                status="paid",
                stripe_payment_intent_id__isnull=False,
            )
            .values_list("stripe_payment_intent_id", flat=True)
            .first()
        )
        if intent:
            payment.stripe_payment_intent_id = intent
            changed.append("stripe_payment_intent_id")
    if payment.stripe_charge_id is None and payment.stripe_payment_intent_id:
        charge = (
            Charge.objects.filter(
                stripe_payment_intent_id=payment.stripe_payment_intent_id, status="succeeded"
            )
            .values_list("stripe_charge_id", flat=True)
            .first()
        )
        if charge:
            payment.stripe_charge_id = charge
            changed.append("stripe_charge_id")
    return changed


@dataclass
class Claims:
    """A payment's refunds and disputes, read once per change."""

    refunds: list[Refund]
    disputes: list[Dispute]

    @classmethod
    def of(cls, payment: Payment) -> Claims:
        """Both kinds of claim in one read (a ``UNION ALL``), newest first as listed."""
        refunds: list[Refund] = []
        disputes: list[Dispute] = []
        for row in _claim_rows(payment.pk):
            values = dict(zip(_CLAIM_COLUMNS, row[1:], strict=True))
            if row[0] == "d":
                values["stripe_dispute_id"] = values["stripe_id"]
                disputes.append(_loaded(Dispute, values, payment))
            else:
                values["stripe_refund_id"] = values["stripe_id"]
                refunds.append(_loaded(Refund, values, payment))
        refunds.sort(key=lambda c: (c.created, c.pk), reverse=True)
        disputes.sort(key=lambda c: (c.created, c.pk), reverse=True)
        return cls(refunds, disputes)

    def put(self, row: Refund | Dispute) -> None:
        rows: list[Any] = self.refunds if isinstance(row, Refund) else self.disputes
        rows[:] = [r for r in rows if r.pk != row.pk] + [row]

    def requested(self, *, excluding: Refund | Dispute | None = None) -> int:
        """Tokens the live claims (refunds, held disputes) ask back, but ``excluding``."""
        live: list[Refund | Dispute] = [
            *(r for r in self.refunds if r.status not in REFUND_UNDONE),
            *(d for d in self.disputes if d.status not in DISPUTE_RELEASED),
        ]
        return sum(c.tokens for c in live if excluding is None or c.pk != excluding.pk)


#: The columns both kinds of claim are read into (a refund has no dispute fields).
_CLAIM_COLUMNS = (
    *("id", "created", "modified", "stripe_id", "payment_id", "stripe_charge_id", "amount"),
    *("currency", "status", "reason", "tokens", "funds_withdrawn", "funds_reinstated"),
    "status_at",
)
_SHARED = _CLAIM_COLUMNS[:3] + _CLAIM_COLUMNS[4:11]


_Claim = TypeVar("_Claim", Refund, Dispute)


def _loaded(model: type[_Claim], values: dict[str, Any], payment: Payment) -> _Claim:
    """A claim row as the ORM loads it (``from_db`` takes the fields in model order)."""
    names = [field.attname for field in model._meta.concrete_fields]
    row = model.from_db(connection.alias, names, [values[name] for name in names])
    row.payment = payment
    return row


def _claim_rows(payment_pk: int) -> list[tuple[Any, ...]]:
    """A payment's refunds and disputes as rows of ``("r" | "d", *_CLAIM_COLUMNS)``."""
    return [tuple(row.values()) for row in _CLAIMS.all(payment=payment_pk)]


def _claims_query(payment: int) -> QuerySet[Any, Any]:
    # Every column is an annotation, so both sides list them in the same order;
    # the disputes come first, as the union takes its column types from them.
    disputes = (
        Dispute.objects.filter(payment_id=payment)
        .order_by()
        .annotate(
            c_claim=Value("d"),
            **{f"c_{name}": F(name) for name in _SHARED[:3]},
            c_stripe_id=F("stripe_dispute_id"),
            **{f"c_{name}": F(name) for name in _SHARED[3:]},
            c_funds_withdrawn=F("funds_withdrawn"),
            c_funds_reinstated=F("funds_reinstated"),
            c_status_at=F("status_at"),
        )
    )
    refunds = (
        Refund.objects.filter(payment_id=payment)
        .order_by()
        .annotate(
            c_claim=Value("r"),
            **{f"c_{name}": F(name) for name in _SHARED[:3]},
            c_stripe_id=F("stripe_refund_id"),
            **{f"c_{name}": F(name) for name in _SHARED[3:]},
            c_funds_withdrawn=Value(False, output_field=BooleanField()),
            c_funds_reinstated=Value(False, output_field=BooleanField()),
            c_status_at=Value(None, output_field=DateTimeField()),
        )
    )
    names = ["c_claim", *(f"c_{name}" for name in _CLAIM_COLUMNS)]
    # The union itself must not be ordered: Django 6 would order it by the
    # models' default ordering, whose columns the union does not return.
    claims = disputes.values(*names).union(refunds.values(*names), all=True)
    return cast("QuerySet[Any, Any]", claims.order_by())  # .values(*names) is typed Any


# Read by every refund and dispute: compiled once (``compiled_query``).
_CLAIMS = CompiledQuery(_claims_query, payment=int)


def refresh(payment: Payment, claims: Claims | None = None) -> None:
    """Set the payment's refunded amount and status from its refunds and disputes.

    Without ``claims`` nothing about refunds or disputes changed: the status
    only moves to succeeded if it says nothing of them yet.
    """
    if claims is None:
        if is_paid(payment) and payment.status not in CLAIMED_STATUSES:
            payment.status = PaymentStatus.SUCCEEDED
        return
    refunded = sum(r.amount for r in claims.refunds if r.status not in REFUND_UNDONE)
    payment.amount_refunded = min(refunded, payment.amount)
    if not is_paid(payment):
        return
    if any(d.status == "lost" for d in claims.disputes):
        payment.status = PaymentStatus.DISPUTE_LOST
    elif any(d.status not in DISPUTE_CLOSED for d in claims.disputes):
        payment.status = PaymentStatus.DISPUTED
    elif payment.amount_refunded and payment.amount_refunded >= payment.amount:
        payment.status = PaymentStatus.REFUNDED
    elif payment.amount_refunded:
        payment.status = PaymentStatus.PARTIALLY_REFUNDED
    else:
        payment.status = PaymentStatus.SUCCEEDED
