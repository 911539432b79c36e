"""The Stripe customer of a subscriber: created once, replaced when Stripe lost it.

Two rules keep a subscriber at one Stripe customer:

- Concurrent first checkouts are serialised by a lock on the subscriber's
  ``Customer`` row, held while Stripe is asked.
- Every attempt sends a new idempotency key (the gateway's own retries of
  that attempt resend it), so a failure Stripe stored for one attempt is never
  replayed to the next. When an attempt ends without a clear answer (a
  timeout, a connection error, a 5xx), Stripe may have created the customer
  all the same: the row records when that attempt started, and the next
  attempt first lists the customers created since then and adopts the one
  that carries this subscriber's metadata.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from fiko_billing import stripe_shapes as shapes
from fiko_billing.conf import billing_settings, subscriber_model_label
from fiko_billing.gateway import (
    StripeGateway,
    StripeUnavailable,
    new_idempotency_key,
)
from fiko_billing.models import Customer
from fiko_billing.services.stripe_data import metadata
from fiko_billing.subscribers import Subscriber, as_foreign_key, ensure_subscriber

logger = logging.getLogger("fiko_billing.stripe")

#: How far Stripe's clock may be behind ours when we look for a customer by ``created``.
CLOCK_SKEW = timedelta(minutes=1)
#: No request to Stripe runs longer than this: a customer created later is not that attempt's.
ATTEMPT_WINDOW = timedelta(minutes=15)


def subscriber_metadata(subscriber: Subscriber) -> dict[str, str]:
    """Metadata that lets any Stripe object lead back to its subscriber."""
    ensure_subscriber(subscriber)
    return {
        "fiko_subscriber": str(subscriber.pk),
        "fiko_subscriber_model": subscriber_model_label(),
    }


def _customer_params(subscriber: Subscriber) -> dict[str, Any]:
    params: dict[str, Any] = {"metadata": subscriber_metadata(subscriber)}
    email = getattr(subscriber, "email", "")
    if email:
        params["email"] = email
    name = (
        subscriber.get_full_name()
        if hasattr(subscriber, "get_full_name")
        else getattr(subscriber, "name", "")
    )
    if name:
        params["name"] = name
    return params


def _live_key() -> bool:
    return billing_settings.key_livemode is True


def _locked_row(subscriber: Subscriber) -> Customer:
    try:
        with transaction.atomic():
            Customer.objects.get_or_create(subscriber=as_foreign_key(subscriber))
    except IntegrityError:
        pass  # created by a concurrent request: lock that one
    return Customer.objects.select_for_update().get(subscriber=as_foreign_key(subscriber))


def _created_by_failed_attempt(
    row: Customer, subscriber: Subscriber, params: dict[str, Any], gateway: StripeGateway
) -> shapes.Customer | None:
    """The customer an unanswered attempt created after all, if any (the oldest)."""
    assert row.creation_attempted_at is not None  # noqa: S101
    since = row.creation_attempted_at - CLOCK_SKEW
    query: dict[str, Any] = {
        "created": {
            "gte": int(since.timestamp()),
            "lte": int((row.creation_attempted_at + ATTEMPT_WINDOW).timestamp()),
        }
    }
    if "email" in params:
        query["email"] = params["email"]
    wanted = subscriber_metadata(subscriber)
    found = [
        customer
        for customer in gateway.list_customers(query)
        if all(metadata(customer).get(key) == value for key, value in wanted.items())
    ]
    if not found:
        return None
    found.sort(key=lambda customer: (customer.get("created") or 0, customer["id"]))
    if len(found) > 1:
        logger.warning(
            "subscriber %s has %d Stripe customers from unanswered attempts; keeping %s, "
            "the others (%s) can be deleted",
            subscriber.pk,
            len(found),
            found[0]["id"],
            ", ".join(customer["id"] for customer in found[1:]),
        )
    return found[0]


def ensure_customer(
    subscriber: Subscriber, gateway: StripeGateway, *, replace: str | None = None
) -> Customer:
    """The subscriber's Stripe customer, created on first use.

    ``replace`` names a stored customer id that Stripe no longer knows: a new
    customer replaces it, once. Stripe failures propagate as
    ``StripeGatewayError``; after one whose outcome is unknown the next call
    adopts what that attempt may have created instead of creating another.
    """
    ensure_subscriber(subscriber)
    failure: StripeUnavailable | None = None
    with transaction.atomic():
        row = _locked_row(subscriber)
        stale = _is_stale(row, replace)
        if row.stripe_customer_id and not stale:
            return row
        if stale:
            logger.warning(
                "stripe customer %s of subscriber %s is unknown to Stripe in this mode; "
                "creating a new one",
                row.stripe_customer_id,
                subscriber.pk,
            )
        params = _customer_params(subscriber)
        created = _adopted_customer(row, subscriber, params, gateway)
        if created is None:
            try:
                created = _create_customer(row, subscriber, params, gateway)
            except StripeUnavailable as exc:
                # Raised once the block has committed, so the recorded attempt survives.
                failure = exc
        if created is not None:
            _store_customer(row, created)
    if failure is not None:
        raise failure
    return row


def _is_stale(row: Customer, replace: str | None) -> bool:
    """Whether the stored customer must be replaced: Stripe lost it, or it is of the other mode."""
    return row.stripe_customer_id is not None and (
        row.stripe_customer_id == replace or row.livemode != _live_key()
    )


def _adopted_customer(
    row: Customer, subscriber: Subscriber, params: dict[str, Any], gateway: StripeGateway
) -> shapes.Customer | None:
    """The customer an unanswered earlier attempt created, if there was one."""
    if row.creation_attempted_at is None:
        return None
    created = _created_by_failed_attempt(row, subscriber, params, gateway)
    if created is not None:
        logger.info(
            "stripe customer %s, created by an unanswered attempt, adopted for subscriber %s",
            created["id"],
            subscriber.pk,
        )
    return created


def _create_customer(
    row: Customer, subscriber: Subscriber, params: dict[str, Any], gateway: StripeGateway
) -> shapes.Customer:
    """A new Stripe customer; when Stripe leaves the outcome unknown, the attempt is recorded."""
    started = timezone.now()
    try:
        created = gateway.create_customer(
            params,
            idempotency_key=new_idempotency_key(
                f"customer:{subscriber_model_label()}:{subscriber.pk}"
            ),
        )
    except StripeUnavailable:
        # Recorded, not rolled back: the next attempt must know to look.
        if row.creation_attempted_at is None:
            row.creation_attempted_at = started
            row.save(update_fields=["creation_attempted_at", "modified"])
        raise
    logger.info("stripe customer %s created for subscriber %s", created["id"], subscriber.pk)
    return created


def _store_customer(row: Customer, created: shapes.Customer) -> None:
    row.stripe_customer_id = created["id"]
    row.livemode = bool(created.get("livemode", False))
    row.deleted_at = None
    row.creation_attempted_at = None
    row.save(
        update_fields=[
            "stripe_customer_id",
            "livemode",
            "deleted_at",
            "creation_attempted_at",
            "modified",
        ]
    )


def customer_of(subscriber: Subscriber) -> Customer | None:
    """The subscriber's customer row if it has a Stripe customer, else ``None``."""
    ensure_subscriber(subscriber)
    return Customer.objects.filter(
        subscriber=as_foreign_key(subscriber), stripe_customer_id__isnull=False
    ).first()
