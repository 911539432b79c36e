"""What the database already knows of one invoice, read in one statement.

Recording an invoice needs several facts from several tables: its payment
row (if any), its subscription's row, the PaymentIntent that paid it, whether
a credited period of the subscription overlaps its own (then one allowance
ends the other), and whether any event waits for it. Each would be a round
trip of its own; here they are subqueries of one ``SELECT`` on the
subscriber's token account, read after the subscriber's ledger lock is taken, so no
other recording of this subscriber's invoices runs in between.

The last two are hints that let the common case skip a query: when they say
no, nothing can overlap and nobody waits (an event that starts waiting after
this read is run by ``process_webhook_events``, as one that starts waiting in
the instant its cause commits always was).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, Q, QuerySet, Subquery, Value
from django.db.models.functions import Concat

from fiko_billing.compiled_query import CompiledQuery
from fiko_billing.models import (
    EventStatus,
    InvoicePayment,
    Payment,
    Subscription,
    TokenAccount,
    WebhookEvent,
)
from fiko_billing.services import waiting
from fiko_billing.services.allowance import credited_periods


@dataclass(frozen=True)
class InvoiceFacts:
    payment_pk: int | None
    subscription_pk: int | None
    paid_intent: str | None
    #: A credited payment of the subscription whose period may overlap this invoice's.
    overlapping: bool
    #: An event waits for this invoice, its PaymentIntent or a charge.
    waited_for: bool


def _overlapping(
    invoice_id: str, subscription_id: str, start: datetime | None, end: datetime | None
) -> QuerySet[Payment]:
    credited = credited_periods(subscription_id, excluding_invoice=invoice_id)
    if start is not None:
        credited = credited.filter(period_end__gt=start)
    if end is not None:
        credited = credited.filter(period_start__lt=end)
    return credited


def _facts(
    account: int,
    invoice_id: str,
    invoice_key: str,
    subscription_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[Any, Any]:
    intents = InvoicePayment.objects.filter(
        stripe_invoice_id=invoice_id, status="paid", stripe_payment_intent_id__isnull=False
    )
    intent_keys = intents.annotate(
        key=Concat(Value(waiting.payment_intent_key("")), "stripe_payment_intent_id")
    ).values("key")
    waiters = WebhookEvent.objects.filter(status=EventStatus.PENDING).filter(
        Q(waiting_for=invoice_key)
        | Q(waiting_for__in=intent_keys)
        | Q(waiting_for__startswith=waiting.charge_key(""))
    )
    return (
        TokenAccount.objects.filter(pk=account)
        .annotate(
            payment_pk=Subquery(
                Payment.objects.filter(stripe_invoice_id=invoice_id).order_by().values("pk")[:1]
            ),
            subscription_pk=Subquery(
                Subscription.objects.filter(stripe_subscription_id=subscription_id).values("pk")[
                    :1
                ]
            ),
            paid_intent=Subquery(intents.order_by("pk").values("stripe_payment_intent_id")[:1]),
            overlapping=Exists(_overlapping(invoice_id, subscription_id, start, end)),
            waited_for=Exists(waiters),
        )
        .values("payment_pk", "subscription_pk", "paid_intent", "overlapping", "waited_for")
    )


_NAMES = {"account": int, "invoice_id": str, "invoice_key": str, "subscription_id": str}

# One compiled read for each of the four shapes a period gives the query (a
# start, an end, both, neither); see ``compiled_query``.
_READS = {
    (False, False): CompiledQuery(_facts, **_NAMES),
    (True, False): CompiledQuery(_facts, **_NAMES, start=datetime),
    (False, True): CompiledQuery(_facts, **_NAMES, end=datetime),
    (True, True): CompiledQuery(_facts, **_NAMES, start=datetime, end=datetime),
}


def invoice_facts(
    account: int,
    invoice_id: str,
    subscription_id: str,
    *,
    period: tuple[datetime | None, datetime | None] = (None, None),
) -> InvoiceFacts:
    """The facts of ``invoice_id`` (of ``subscription_id``), read once the subscriber's
    ledger lock is held (``account``: the pk ``tokens.lock_account`` returned)."""
    start, end = period
    bounds = {name: value for name, value in (("start", start), ("end", end)) if value is not None}
    row = _READS[start is not None, end is not None].first(
        account=account,
        invoice_id=invoice_id,
        invoice_key=waiting.invoice_key(invoice_id),
        subscription_id=subscription_id,
        **bounds,
    )
    if row is None:
        raise TokenAccount.DoesNotExist(f"no token account {account}: lock it first")
    return InvoiceFacts(**row)
