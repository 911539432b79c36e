"""The one place that records payments, refunds and disputes, and what they do to tokens.

Stripe tells us about one payment through several objects that arrive in any
order: the invoice (``invoice.paid``), the PaymentIntent that paid it
(``invoice_payment.paid``; a webhook invoice never names it), its charge
(``charge.*``), and later refunds (``refund.*``) and disputes
(``charge.dispute.*``), which name only the PaymentIntent and the charge.
Each is recorded as it comes; refunds and disputes of a payment we have not
recorded yet (or whose tokens are not credited yet) wait for it
(``fiko_billing.services.waiting``).

Rules (see the "Money rules" page of the docs):

* a refund takes back its share of the payment's tokens (tokens times refunded /
  amount; when the payment is refunded in full, all of them), from what is
  still there of the credit the payment bought; expired tokens are not taken
  again; spent ones are taken as a debt, or forgiven with
  ``REFUND_SPENT_TOKENS = "forgive"``. A refund that fails gives them back;
* a dispute holds its share of the tokens the same way as soon as it is
  opened; a lost dispute keeps them taken, a won one gives them back;
* the payment's status follows: disputed while a dispute is open, dispute
  lost, refunded or partially refunded, else succeeded; a refund never hides
  a dispute.

Lock order: the subscriber's ledger lock, then the payment row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from fiko_billing import signals, tokens
from fiko_billing.conf import billing_settings
from fiko_billing.models import (
    Charge,
    Dispute,
    EntryKind,
    InvoicePayment,
    Payment,
    PaymentKind,
    PaymentStatus,
    Plan,
    Refund,
    Subscription,
    SubscriptionStatus,
    TokenPackage,
)
from fiko_billing.services import allowance, waiting
from fiko_billing.services.catalogue_lookup import subscriber_for
from fiko_billing.services.stripe_data import invoice_subscription_id, metadata, object_id, ts
from fiko_billing.services.subscription_state import record_status

logger = logging.getLogger("fiko_billing.payments")

INITIAL_STATUS = {
    "paid": PaymentStatus.PENDING,
    "failed": PaymentStatus.FAILED,
    "action_required": PaymentStatus.REQUIRES_ACTION,
}
KIND_BY_REASON = {
    "subscription_create": PaymentKind.SUBSCRIPTION,
    "subscription_update": PaymentKind.PLAN_CHANGE,
}
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
#: How long a refund of an unknown charge of one of our customers waits for
#: its payment before Stripe is asked whether it paid an invoice at all.
ASK_STRIPE_AFTER = timedelta(hours=1)
REFUND_RANK = {"pending": 0, "requires_action": 0, "succeeded": 1, "failed": 2, "canceled": 2}
#: Refund statuses after which the money did not go back.
REFUND_UNDONE = frozenset({"failed", "canceled"})
#: Dispute statuses that end a dispute, and those that end it in our favour.
DISPUTE_CLOSED = frozenset({"won", "lost", "warning_closed", "prevented"})
DISPUTE_RELEASED = frozenset({"won", "warning_closed", "prevented"})


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


def _locked(payment: Payment) -> Payment:
    tokens.lock_account(payment.subscriber)
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    locked.subscriber = payment.subscriber
    return locked


def link_ids(payment: Payment) -> list[str]:
    """Fill in the payment's PaymentIntent and charge from what Stripe already told us."""
    changed = []
    if payment.stripe_payment_intent_id is None and payment.stripe_invoice_id:
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


# ---------------------------------------------------------------------- invoices


def _invoice_subscriber(invoice: dict[str, Any]) -> Any:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return subscriber_for(
        customer_id=object_id(invoice.get("customer")), metadata=metadata(details)
    )


def _invoice_payment_row(
    invoice: dict[str, Any],
    subscriber: Any,
    subscription_id: str,
    bought: allowance.Allowance | None,
    outcome: str,
) -> Payment:
    """The payment row of a subscription invoice, created if needed, locked."""
    row = (
        Payment.objects.select_for_update()
        .select_related("subscriber")
        .filter(stripe_invoice_id=invoice["id"])
        .first()
    )
    facts: dict[str, Any] = {"stripe_subscription_id": subscription_id}
    if row is None or row.subscription_id is None:
        facts["subscription"] = Subscription.objects.filter(
            stripe_subscription_id=subscription_id
        ).first()
    if bought is not None:
        facts.update(
            plan=bought.item if isinstance(bought.item, Plan) else None,
            package=bought.item if isinstance(bought.item, TokenPackage) else None,
            quantity=bought.quantity,
            period_start=bought.period_start,
            period_end=bought.period_end,
        )
    if row is None:
        return Payment.objects.create(
            subscriber=subscriber,
            kind=KIND_BY_REASON.get(str(invoice.get("billing_reason")), PaymentKind.RENEWAL),
            status=INITIAL_STATUS[outcome],
            failure_message="The payment failed." if outcome == "failed" else "",
            hosted_invoice_url=invoice.get("hosted_invoice_url") or "",
            amount=int(invoice.get("amount_due") or 0),
            currency=str(invoice.get("currency") or billing_settings.CURRENCY),
            stripe_invoice_id=invoice["id"],
            livemode=bool(invoice.get("livemode", False)),
            tokens=bought.tokens if bought is not None else 0,
            **facts,
        )
    fields = []
    for name, value in facts.items():
        if value is not None and getattr(row, name) != value:
            if name in ("plan", "package") and row.credited_at is not None:
                continue
            setattr(row, name, value)
            fields.append(name)
    if fields:
        row.save(update_fields=[*fields, "modified"])
    return row


def record_invoice(invoice: dict[str, Any], *, outcome: str, at: datetime) -> Payment | None:
    """Record a subscription invoice's outcome: ``"paid"``, ``"failed"`` or ``"action_required"``.

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
    tokens.lock_account(subscriber)
    bought = allowance.allowance_for(invoice)
    payment = _invoice_payment_row(invoice, subscriber, subscription_id, bought, outcome)
    if outcome == "paid":
        _invoice_paid(payment, invoice, subscription_id, bought, at)
    elif outcome == "failed":
        _invoice_failed(payment, invoice, subscription_id, at)
    else:
        _invoice_action_required(payment, invoice)
    return payment


def _invoice_paid(
    payment: Payment,
    invoice: dict[str, Any],
    subscription_id: str,
    bought: allowance.Allowance | None,
    at: datetime,
) -> None:
    if payment.credited_at is None:
        if bought is None:
            logger.warning(
                "invoice %s: no known plan or package; no tokens granted", invoice["id"]
            )
        entry = (
            allowance.grant(payment.subscriber, invoice, bought, subscription_id=subscription_id)
            if bought is not None
            else None
        )
        payment.tokens = entry.amount if entry is not None else 0
        payment.credited_at = at
    payment.amount = int(invoice.get("amount_paid") or 0) or payment.amount
    payment.hosted_invoice_url = invoice.get("hosted_invoice_url") or payment.hosted_invoice_url
    payment.failure_message = ""
    first_time = payment.fulfilled_at is None
    payment.fulfilled_at = payment.fulfilled_at or at
    link_ids(payment)
    refresh(payment)
    payment.save()
    if first_time:
        signals.send_on_commit(
            signals.payment_succeeded, Payment, subscriber=payment.subscriber, payment=payment
        )
    waiting.recorded(wake_keys(payment))


def _invoice_failed(
    payment: Payment, invoice: dict[str, Any], subscription_id: str, at: datetime
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


def _invoice_action_required(payment: Payment, invoice: dict[str, Any]) -> None:
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


def record_invoice_payment(obj: dict[str, Any]) -> None:
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
        payment = _locked(payment)
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


def _record_charge_link(charge_id: str, intent: str | None, obj: dict[str, Any]) -> None:
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


def _upsert(model: Any, lookup: dict[str, Any], values: dict[str, Any]) -> None:
    """Insert or update a mirror row of one Stripe object, in one statement."""
    model.objects.bulk_create(
        [model(**lookup, **values)],
        update_conflicts=True,
        unique_fields=list(lookup),
        update_fields=list(values),
    )


def record_charge(charge: dict[str, Any]) -> None:
    """``charge.*``: remember which PaymentIntent a charge belongs to."""
    intent = object_id(charge.get("payment_intent"))
    status = str(charge.get("status") or "")
    payment = Payment.objects.filter(stripe_payment_intent_id=intent).first() if intent else None
    if payment is not None:
        payment = _locked(payment)
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


# ---------------------------------------------------------------------- finding the payment


def _find(intent: str | None, charge_id: str | None) -> Payment | None:
    """Our payment of a PaymentIntent or charge; ``Wait`` if its invoice is not recorded yet."""
    if not intent and charge_id:
        intent = (
            Charge.objects.filter(stripe_charge_id=charge_id)
            .values_list("stripe_payment_intent_id", flat=True)
            .first()
        )
    query = Q(pk__in=[])
    if intent:
        query |= Q(stripe_payment_intent_id=intent)
    if charge_id:
        query |= Q(stripe_charge_id=charge_id)
    payment = Payment.objects.select_related("subscriber").filter(query).first()
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


def _wait_key(intent: str | None, charge_id: str | None) -> str:
    if intent:
        return waiting.payment_intent_key(intent)
    return waiting.charge_key(str(charge_id))


def _refunded_payment(refund: dict[str, Any], charge: dict[str, Any] | None) -> Payment | None:
    """The payment a refund belongs to; ``Wait`` if it is ours but not recorded yet."""
    intent = object_id(refund.get("payment_intent"))
    charge_id = object_id(refund.get("charge"))
    payment = _find(intent, charge_id)
    if payment is not None:
        return payment
    described = f"the payment of {intent or charge_id} is not recorded yet"
    if metadata(charge).get("fiko_subscriber"):
        raise waiting.Wait(_wait_key(intent, charge_id), described)
    subscriber = subscriber_for(
        customer_id=object_id(refund.get("customer") or (charge or {}).get("customer"))
    )
    if subscriber is None:
        return None  # a charge of someone who is not our customer
    pending_package = Payment.objects.filter(
        subscriber=subscriber,
        kind=PaymentKind.TOKEN_PACKAGE,
        stripe_payment_intent_id__isnull=True,
        status__in=[PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION],
    ).exists()
    created = ts(refund.get("created"))
    young = created is None or timezone.now() - created < ASK_STRIPE_AFTER
    if pending_package or not intent or young:
        # Its invoice_payment.paid (or checkout) is on its way, most likely.
        raise waiting.Wait(_wait_key(intent, charge_id), described)
    # Still unexplained long after it was made: only Stripe can say whether
    # it paid an invoice of ours, or was made outside fiko_billing (one call).
    from fiko_billing.gateway import get_gateway

    found = list(get_gateway().list_invoice_payments(payment_intent=intent))
    for obj in found:
        record_invoice_payment(obj)
    if not found:
        return None  # a charge made outside fiko_billing
    return _find(intent, charge_id)


def _ready(payment: Payment, intent: str | None, charge_id: str | None) -> None:
    """Refunds and disputes act on what the payment credited: they wait for it."""
    if payment.credited_at is None:
        key = (
            waiting.invoice_key(payment.stripe_invoice_id)
            if payment.stripe_invoice_id
            else _wait_key(intent, charge_id)
        )
        raise waiting.Wait(key, f"the tokens of payment {payment.pk} are not credited yet")


# ---------------------------------------------------------------------- refunds


@dataclass
class Claims:
    """A payment's refunds and disputes, read once per change."""

    refunds: list[Refund]
    disputes: list[Dispute]

    @classmethod
    def of(cls, payment: Payment) -> Claims:
        return cls(list(payment.refunds.all()), list(payment.disputes.all()))

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


def _share(payment: Payment, amount: int) -> int:
    if payment.tokens <= 0 or payment.amount <= 0:
        return 0
    return min(payment.tokens, payment.tokens * amount // payment.amount)


def _forgive() -> bool:
    return billing_settings.REFUND_SPENT_TOKENS == "forgive"


def record_refund(
    refund: dict[str, Any], *, charge: dict[str, Any] | None = None, wait: bool = True
) -> Refund | None:
    """``refund.*`` (or a refund we made): record it and take back its share of tokens.

    Returns ``None`` when the refund is not of a payment of ours (or, with
    ``wait=False``, when its payment is not ready yet).
    """
    intent = object_id(refund.get("payment_intent"))
    charge_id = object_id(refund.get("charge"))
    try:
        payment = _refunded_payment(refund, charge)
        if payment is None:
            logger.info("refund %s is not of a payment of ours; ignored", refund.get("id"))
            return None
        _ready(payment, intent, charge_id)
    except waiting.Wait:
        if wait:
            raise
        return None
    payment = _locked(payment)
    claims = Claims.of(payment)
    status = str(refund.get("status") or "pending")
    row = next((r for r in claims.refunds if r.stripe_refund_id == refund["id"]), None)
    created = row is None
    if row is None:
        row = Refund(
            stripe_refund_id=str(refund["id"]),
            payment=payment,
            stripe_charge_id=charge_id or "",
            amount=int(refund.get("amount") or 0),
            currency=str(refund.get("currency") or payment.currency),
            status=status,
            reason=str(refund.get("reason") or ""),
            tokens=_share(payment, int(refund.get("amount") or 0)),
        )
    elif REFUND_RANK.get(status, 0) > REFUND_RANK.get(row.status, 0):
        row.status = status
    claimed_before = claims.requested(excluding=row)
    row.save()
    claims.put(row)
    reference = f"refund:{row.stripe_refund_id}"
    if row.tokens:
        tokens.take_back(
            payment.subscriber,
            row.tokens,
            credit_reference=credit_reference(payment) or "",
            reference=reference,
            claimed_before=claimed_before,
            kind=EntryKind.REFUND,
            forgive_spent=_forgive(),
            description=f"Refund of {payment}",
        )
    if row.status in REFUND_UNDONE:
        tokens.reinstate(
            payment.subscriber,
            claim_reference=reference,
            reference=f"{reference}:undone",
            description=f"Refund {row.stripe_refund_id} {row.status}",
        )
    _settle_rest(payment, claims)
    before = payment.amount_refunded
    refresh(payment, claims)
    payment.stripe_charge_id = payment.stripe_charge_id or charge_id
    payment.save()
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


def _settle_rest(payment: Payment, claims: Claims) -> None:
    """Shares are rounded down; a payment refunded in full takes back all its tokens."""
    live = [r for r in claims.refunds if r.status not in REFUND_UNDONE]
    if not live or payment.amount <= 0:
        return
    rest = payment.tokens - sum(r.tokens for r in live)
    if sum(r.amount for r in live) < payment.amount or rest <= 0:
        return
    anchor = payment.stripe_invoice_id or payment.stripe_checkout_session_id or str(payment.pk)
    tokens.take_back(
        payment.subscriber,
        rest,
        credit_reference=credit_reference(payment) or "",
        reference=f"refund:{anchor}:rest",
        claimed_before=claims.requested(),
        kind=EntryKind.REFUND,
        forgive_spent=_forgive(),
        description=f"Refund of {payment} (rounding)",
    )


#: Statuses that say a payment has refunds or disputes.
CLAIMED_STATUSES = frozenset(
    {
        PaymentStatus.REFUNDED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.DISPUTED,
        PaymentStatus.DISPUTE_LOST,
    }
)


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


# ---------------------------------------------------------------------- disputes

DISPUTE_RANK = {
    "warning_needs_response": 0,
    "warning_under_review": 1,
    "needs_response": 0,
    "under_review": 1,
}


def record_dispute(dispute: dict[str, Any], *, event_type: str, at: datetime) -> Dispute:
    """``charge.dispute.*``: record the dispute and hold (or give back) its tokens.

    Every dispute holds its share of the payment's tokens from the moment it
    is opened, like a refund; a dispute closed as lost keeps them, one closed
    in our favour (won, or an inquiry closed) gives them back.
    """
    intent = object_id(dispute.get("payment_intent"))
    charge_id = object_id(dispute.get("charge"))
    payment = _find(intent, charge_id)
    if payment is None:
        # A dispute does not say whose charge it is: wait for the payment.
        raise waiting.Wait(
            _wait_key(intent, charge_id),
            f"the disputed payment of {intent or charge_id} is not recorded yet",
        )
    _ready(payment, intent, charge_id)
    payment = _locked(payment)
    claims = Claims.of(payment)
    status = str(dispute.get("status") or "needs_response")
    row = next((d for d in claims.disputes if d.stripe_dispute_id == dispute["id"]), None)
    created = row is None
    was_closed = row is not None and row.status in DISPUTE_CLOSED
    if row is None:
        row = Dispute(
            stripe_dispute_id=str(dispute["id"]),
            payment=payment,
            stripe_charge_id=charge_id or "",
            currency=str(dispute.get("currency") or payment.currency),
            reason=str(dispute.get("reason") or ""),
            status=status,
            status_at=at,
        )
    elif row.status not in DISPUTE_CLOSED and (
        status in DISPUTE_CLOSED
        or row.status_at is None
        or at > row.status_at
        or (at == row.status_at and DISPUTE_RANK.get(status, 0) > DISPUTE_RANK.get(row.status, 0))
    ):
        row.status, row.status_at = status, at
    row.amount = int(dispute.get("amount") or row.amount or 0)
    row.tokens = _share(payment, row.amount)
    row.funds_withdrawn = row.funds_withdrawn or event_type.endswith("funds_withdrawn")
    row.funds_reinstated = row.funds_reinstated or event_type.endswith("funds_reinstated")
    claimed_before = claims.requested(excluding=row)
    row.save()
    claims.put(row)
    reference = f"dispute:{row.stripe_dispute_id}"
    if row.tokens:
        tokens.take_back(
            payment.subscriber,
            row.tokens,
            credit_reference=credit_reference(payment) or "",
            reference=reference,
            claimed_before=claimed_before,
            kind=EntryKind.DISPUTE,
            forgive_spent=_forgive(),
            description=f"Dispute of {payment}",
        )
    if row.status in DISPUTE_RELEASED:
        tokens.reinstate(
            payment.subscriber,
            claim_reference=reference,
            reference=f"{reference}:{row.status}",
            description=f"Dispute {row.stripe_dispute_id} {row.status}",
        )
    refresh(payment, claims)
    payment.save()
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
    logger.info(
        "dispute %s of payment %s: %s (%d tokens held)",
        row.stripe_dispute_id,
        payment.pk,
        row.status,
        row.tokens,
    )
    return row
