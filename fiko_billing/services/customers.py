"""The Stripe customer of a subscriber: created once, replaced when Stripe lost it."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction

from fiko_billing.conf import billing_settings, subscriber_model_label
from fiko_billing.gateway import StripeGateway
from fiko_billing.models import Customer
from fiko_billing.subscribers import ensure_subscriber

logger = logging.getLogger("fiko_billing.stripe")


def subscriber_metadata(subscriber: Any) -> dict[str, str]:
    """Metadata that lets any Stripe object lead back to its subscriber."""
    ensure_subscriber(subscriber)
    return {
        "fiko_subscriber": str(subscriber.pk),
        "fiko_subscriber_model": subscriber_model_label(),
    }


def _customer_params(subscriber: Any) -> dict[str, Any]:
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


def _idempotency_key(subscriber: Any, params: dict[str, Any], replaces: str | None) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    mode = "test" if billing_settings.TEST_MODE else "live"
    return (
        f"fiko:customer:{subscriber_model_label()}:{subscriber.pk}:{mode}:"
        f"{replaces or 'first'}:{digest}"
    )


def _live_key() -> bool:
    return billing_settings.STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))


def _locked_row(subscriber: Any) -> Customer:
    try:
        with transaction.atomic():
            Customer.objects.get_or_create(subscriber=subscriber)
    except IntegrityError:
        pass  # created by a concurrent request: lock that one
    return Customer.objects.select_for_update().get(subscriber=subscriber)


def ensure_customer(
    subscriber: Any, gateway: StripeGateway, *, replace: str | None = None
) -> Customer:
    """The subscriber's Stripe customer, created on first use.

    Two concurrent first checkouts make one customer: the row is locked while
    Stripe is asked, and the create carries an idempotency key derived from
    the subscriber, so even a retried request returns the same customer.
    ``replace`` names a stored customer id that Stripe no longer knows: a new
    customer replaces it, once.
    """
    ensure_subscriber(subscriber)
    with transaction.atomic():
        row = _locked_row(subscriber)
        stale = row.stripe_customer_id is not None and (
            row.stripe_customer_id == replace or row.livemode != _live_key()
        )
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
        created = gateway.create_customer(
            params, idempotency_key=_idempotency_key(subscriber, params, row.stripe_customer_id)
        )
        row.stripe_customer_id = created["id"]
        row.livemode = bool(created.get("livemode", False))
        row.deleted_at = None
        row.save(update_fields=["stripe_customer_id", "livemode", "deleted_at", "modified"])
        logger.info("stripe customer %s created for subscriber %s", created["id"], subscriber.pk)
        return row


def customer_of(subscriber: Any) -> Customer | None:
    """The subscriber's customer row if it has a Stripe customer, else ``None``."""
    ensure_subscriber(subscriber)
    return Customer.objects.filter(subscriber=subscriber, stripe_customer_id__isnull=False).first()
