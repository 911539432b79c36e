"""Erasing a subscriber's billing data, for a privacy (right-to-erasure) request.

Accounting rows are kept, because tax and audit rules require them; what ties
them to a person is removed:

1. every subscription still live in Stripe is cancelled there at once (no
   refund; refund first if one is owed), so nobody is charged any more;
2. with ``delete_stripe_customer``, the Stripe customer is deleted, which
   removes the name, e-mail and cards Stripe holds (Stripe keeps the
   payments themselves);
3. here, payments, subscriptions, the Stripe customer row and the token
   ledger are detached from the subscriber (``subscriber`` set to NULL),
   hosted invoice links and ledger descriptions are blanked, and stored
   webhook events about the customer have their object replaced by its ids.

Afterwards the subscriber can be deleted (``Subscription.subscriber`` refuses
a deletion while a subscription is live), or kept and start afresh. Running
the function again is harmless. Stripe calls go through the gateway; a
Stripe failure raises ``StripeGatewayError`` before anything local changed
except subscriptions already cancelled, so a retry completes the job.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fiko_billing.gateway import StripeGateway, StripeResourceMissing, get_gateway
from fiko_billing.models import (
    TERMINAL_STATUSES,
    Customer,
    EventStatus,
    Payment,
    Subscription,
    SubscriptionStatus,
    TokenAccount,
    TokenEntry,
    TokenReservation,
    WebhookEvent,
)
from fiko_billing.services.stripe_data import state_time
from fiko_billing.services.subscription_state import mirror_subscription, record_status
from fiko_billing.subscribers import Subscriber, as_foreign_key, ensure_subscriber

logger = logging.getLogger("fiko_billing.erasure")

#: Events that still wait to be processed keep their payload: processing needs it.
REDACTED_STATUSES = (EventStatus.PROCESSED, EventStatus.IGNORED)


@dataclass(frozen=True)
class ErasureReport:
    """What ``erase_subscriber`` did."""

    canceled_subscriptions: tuple[str, ...]
    deleted_stripe_customer: str | None
    payments: int
    subscriptions: int
    token_accounts: int
    redacted_events: int


def erase_subscriber(
    subscriber: Subscriber,
    *,
    delete_stripe_customer: bool = False,
    gateway: StripeGateway | None = None,
) -> ErasureReport:
    """Cancel what still charges ``subscriber`` and detach its billing rows from it."""
    ensure_subscriber(subscriber)
    live = list(
        Subscription.objects.filter(subscriber=as_foreign_key(subscriber)).exclude(
            status__in=TERMINAL_STATUSES
        )
    )
    customer = Customer.objects.filter(subscriber=as_foreign_key(subscriber)).first()
    customer_id = customer.stripe_customer_id if customer is not None else None
    if gateway is None and (live or (delete_stripe_customer and customer_id)):
        gateway = get_gateway()
    canceled = tuple(_cancel(row, gateway) for row in live if gateway is not None)
    deleted = None
    if delete_stripe_customer and customer_id and gateway is not None:
        with contextlib.suppress(StripeResourceMissing):  # already deleted in Stripe
            gateway.delete_customer(customer_id)
        deleted = customer_id
    with transaction.atomic():
        report = _detach(subscriber, customer, customer_id, canceled, deleted)
    logger.info(
        "billing data of subscriber %s erased: subscriptions_canceled=%d "
        "stripe_customer_deleted=%s payments=%d subscriptions=%d events_redacted=%d",
        subscriber.pk,
        len(canceled),
        "yes" if deleted else "no",
        report.payments,
        report.subscriptions,
        report.redacted_events,
    )
    return report


def _cancel(row: Subscription, gateway: StripeGateway) -> str:
    """Cancel one subscription in Stripe at once and mirror the answer."""
    try:
        answer = gateway.cancel_subscription(row.stripe_subscription_id)
    except StripeResourceMissing:
        answer = None  # Stripe no longer has it, so it charges nobody
    with transaction.atomic():
        if answer is not None:
            mirror_subscription(answer, state_at=state_time(), role="anchor")
        else:
            record_status(
                row.stripe_subscription_id,
                status=SubscriptionStatus.CANCELED,
                before=row.status,
                at=state_time(),
                ended_at=timezone.now(),
            )
    return row.stripe_subscription_id


def _detach(
    subscriber: Subscriber,
    customer: Customer | None,
    customer_id: str | None,
    canceled: tuple[str, ...],
    deleted: str | None,
) -> ErasureReport:
    accounts = list(
        TokenAccount.objects.filter(subscriber=as_foreign_key(subscriber)).values_list(
            "pk", flat=True
        )
    )
    TokenEntry.objects.filter(account__in=accounts).exclude(description="").update(description="")
    TokenReservation.objects.filter(account__in=accounts).exclude(description="").update(
        description=""
    )
    TokenAccount.objects.filter(pk__in=accounts).update(subscriber=None)
    payments = Payment.objects.filter(subscriber=as_foreign_key(subscriber)).update(
        subscriber=None, hosted_invoice_url=""
    )
    subscriptions = Subscription.objects.filter(subscriber=as_foreign_key(subscriber)).update(
        subscriber=None
    )
    if customer is not None:
        Customer.objects.filter(pk=customer.pk).update(
            subscriber=None, deleted_at=timezone.now() if deleted else customer.deleted_at
        )
    redacted = _redact_events(customer_id) if customer_id else 0
    return ErasureReport(
        canceled_subscriptions=canceled,
        deleted_stripe_customer=deleted,
        payments=payments,
        subscriptions=subscriptions,
        token_accounts=len(accounts),
        redacted_events=redacted,
    )


def _redact_events(customer_id: str) -> int:
    """Replace the object of each processed event about the customer by its ids."""
    events = WebhookEvent.objects.filter(status__in=REDACTED_STATUSES).filter(
        Q(payload__data__object__customer=customer_id) | Q(payload__data__object__id=customer_id)
    )
    count = 0
    for event in events.iterator():
        obj = event.payload.get("data", {}).get("object", {})
        kept = {key: obj[key] for key in ("id", "object", "customer") if key in obj}
        event.payload = {
            **{key: value for key, value in event.payload.items() if key != "data"},
            "data": {"object": {**kept, "redacted": True}},
        }
        event.save(update_fields=["payload"])
        count += 1
    return count
