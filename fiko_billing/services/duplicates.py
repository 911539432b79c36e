"""One plan subscription per subscriber: a second paid one is canceled and refunded at once.

Checkout refuses a second subscription when the session is created, but two
sessions opened before either was paid (two tabs) can both be paid. When a
plan subscription starts granting its benefits while the subscriber already
has another, the one Stripe created later is canceled at once and its first
payment refunded in full; the subscription row records which one it
duplicated, ``subscription_duplicate_canceled`` is sent and a warning
logged. ``ALLOW_MULTIPLE_SUBSCRIPTIONS = True`` turns this off.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fiko_billing import signals
from fiko_billing import stripe_shapes as shapes
from fiko_billing.compiled_query import CompiledQuery, KeyOf, columns, loaded
from fiko_billing.conf import billing_settings
from fiko_billing.gateway import (
    StripeGateway,
    StripeInvalidRequest,
    get_gateway,
    new_idempotency_key,
)
from fiko_billing.models import InvoicePayment, Payment, PaymentKind, Subscription
from fiko_billing.services.stripe_data import object_id, state_time, ts
from fiko_billing.subscribers import get_subscriber_model
from fiko_billing.vocabulary import PLAN_KINDS

logger = logging.getLogger("fiko_billing.subscriptions")


def _created(row: Subscription, gateway: StripeGateway) -> datetime:
    if row.stripe_created is None:
        data = gateway.retrieve_subscription(row.stripe_subscription_id)
        row.stripe_created = ts(data.get("created"))
        if row.stripe_created is not None:
            row.save(update_fields=["stripe_created"])
    return row.stripe_created or row.created


# Read whenever a subscription starts granting its benefits: compiled once
# (``compiled_query``), the subscriber's plan subscriptions, locked.
_PLANS = CompiledQuery(
    lambda subscriber: (
        Subscription.objects.entitled()
        .select_for_update()
        .filter(subscriber_id=subscriber, product__kind__in=PLAN_KINDS)
        .values(*columns(Subscription))
    ),
    subscriber=KeyOf(get_subscriber_model),
)


def enforce_single_subscription(row: Subscription) -> None:
    """Cancel and refund every plan subscription of ``row``'s subscriber but the first."""
    if billing_settings.ALLOW_MULTIPLE_SUBSCRIPTIONS:
        return
    if row.subscriber_id is None:
        return  # an erased subscriber's: nobody to hold two plans
    # One query tells both whether ``row`` is a plan subscription and which others are.
    plans = [
        loaded(Subscription, found, _PLANS.db)
        for found in _PLANS.all(subscriber=row.subscriber_id)
    ]
    others = [other for other in plans if other.pk != row.pk]
    if not others or len(others) == len(plans):
        return  # no other plan, or ``row`` is not a plan subscription
    gateway = get_gateway()
    held = sorted([row, *others], key=lambda s: (_created(s, gateway), s.stripe_subscription_id))
    kept = held[0]
    for duplicate in held[1:]:
        _cancel_and_refund(duplicate, kept, gateway)


def _cancel_and_refund(
    duplicate: Subscription, kept: Subscription, gateway: StripeGateway
) -> None:
    from fiko_billing.services.payments import record_refund
    from fiko_billing.services.subscription_state import mirror_subscription

    stripe_id = duplicate.stripe_subscription_id
    try:
        answer = gateway.cancel_subscription(stripe_id)
    except StripeInvalidRequest:
        answer = gateway.retrieve_subscription(stripe_id)  # canceled by an earlier attempt
    duplicate.canceled_as_duplicate_of = kept
    duplicate.save(update_fields=["canceled_as_duplicate_of", "modified"])
    mirror_subscription(
        answer, state_at=state_time(), role="anchor", subscriber=duplicate.subscriber
    )
    refund = _refund_first_payment(duplicate, answer, gateway)
    if refund is not None:
        record_refund(refund, wait=False)
    signals.send_on_commit(
        signals.subscription_duplicate_canceled,
        Subscription,
        subscriber=duplicate.subscriber,
        subscription=duplicate,
        kept=kept,
        refund_id=refund.get("id") if refund else None,
    )
    logger.warning(
        "subscriber %s paid a second subscription %s while %s was active: canceled it and "
        "refunded its first payment (%s)",
        duplicate.subscriber_id,
        stripe_id,
        kept.stripe_subscription_id,
        refund.get("id") if refund else "nothing to refund",
    )


def _refund_first_payment(
    duplicate: Subscription, data: shapes.Subscription, gateway: StripeGateway
) -> shapes.Refund | None:
    """Refund the first invoice's payment in full; ``None`` if nothing was paid."""
    invoice_id = (
        Payment.objects.filter(
            stripe_subscription_id=duplicate.stripe_subscription_id,
            kind=PaymentKind.SUBSCRIPTION,
            stripe_invoice_id__isnull=False,
        )
        .values_list("stripe_invoice_id", flat=True)
        .first()
    ) or object_id(data.get("latest_invoice"))
    if not invoice_id:
        return None
    intents = list(
        InvoicePayment.objects.filter(
            stripe_invoice_id=invoice_id, status="paid", stripe_payment_intent_id__isnull=False
        ).values_list("stripe_payment_intent_id", flat=True)
    )
    if not intents:
        # The invoice_payment.paid event has not come yet, and the refund
        # cannot wait for it: ask Stripe which PaymentIntent paid the invoice.
        intents = [
            str(object_id((p.get("payment") or {}).get("payment_intent")))
            for p in gateway.list_invoice_payments(invoice=invoice_id)
            if p.get("status") == "paid" and (p.get("payment") or {}).get("payment_intent")
        ]
    if not intents:
        return None
    try:
        return gateway.create_refund(
            {"payment_intent": intents[0], "reason": "duplicate"},
            idempotency_key=new_idempotency_key("duplicate-refund"),
        )
    except StripeInvalidRequest as exc:
        if exc.stripe_code == "charge_already_refunded":
            return None  # refunded by an earlier attempt whose transaction was rolled back
        raise
