"""A mirrored subscription's row, locked after its subscriber's ledger lock.

Every writer of a subscription row holds its subscriber's ledger lock first
(the lock order of the package); this finds the subscriber (from the row, the
Stripe customer, or our metadata), takes that lock, then locks the row.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet, Subquery

from fiko_billing import stripe_shapes as shapes
from fiko_billing import tokens
from fiko_billing.compiled_query import CompiledQuery, columns, loaded
from fiko_billing.models import Customer, Subscription
from fiko_billing.services.catalogue_lookup import subscriber_for
from fiko_billing.services.stripe_data import metadata, object_id
from fiko_billing.subscribers import (
    Subscriber,
    as_foreign_key,
    ensure_subscriber,
    get_subscriber_model,
)


def locked_row(
    stripe_id: str,
    data: shapes.Subscription | None,
    subscriber: Subscriber | None,
    *,
    held: bool = False,
) -> tuple[Subscription | None, Subscriber | None, Customer | None]:
    """The row (locked, after its subscriber's ledger lock), its subscriber and customer.

    A row whose subscriber was erased (NULL) is still kept up to date, with no
    subscriber to lock; a new row needs one.
    """
    if subscriber is not None:
        ensure_subscriber(subscriber)
    elif data is not None and not held:
        found = _by_customer(stripe_id, data)
        if found is not None:
            return found
    known = (
        Subscription.objects.filter(stripe_subscription_id=stripe_id)
        .select_related("subscriber")
        .only("pk", "subscriber", "customer_id")
        .first()
    )
    customer = None
    if data is not None and (known is None or known.customer_id is None):
        customer = (
            Customer.objects.filter(stripe_customer_id=object_id(data.get("customer")))
            .select_related("subscriber")
            .first()
        )
    if known is not None:
        subscriber = subscriber or known.subscriber
    else:
        if subscriber is None and customer is not None:
            subscriber = customer.subscriber
        if subscriber is None and data is not None:
            subscriber = subscriber_for(customer_id=None, metadata=metadata(data))
        if subscriber is None:
            return None, None, None
    if subscriber is not None and not held:
        tokens.lock_account(subscriber)
    row = None
    if known is not None:
        row = Subscription.objects.select_for_update().get(pk=known.pk)
        if subscriber is not None:
            row.subscriber = as_foreign_key(subscriber)
    return row, subscriber, customer


def _customer_and_row(customer_id: str, stripe_id: str) -> QuerySet[Customer, dict[str, Any]]:
    """The customer, its subscriber and what the subscription's row (if any) names.

    At most one row: Stripe ids are unique."""
    rows = Subscription.objects.filter(stripe_subscription_id=stripe_id).order_by()
    return cast(  # the plugin types .values() of unpacked names as Any
        "QuerySet[Customer, dict[str, Any]]",
        Customer.objects.filter(stripe_customer_id=customer_id)
        .annotate(
            row_pk=Subquery(rows.values("pk")[:1]),
            row_subscriber=Subquery(rows.values("subscriber_id")[:1]),
            row_customer=Subquery(rows.values("customer_id")[:1]),
        )
        .values(
            *columns(Customer),
            *columns(get_subscriber_model(), "subscriber__"),
            "row_pk",
            "row_subscriber",
            "row_customer",
        ),
    )


# Read on every subscription event: compiled once (see ``compiled_query``).
_CUSTOMER_AND_ROW = CompiledQuery(_customer_and_row, customer_id=str, stripe_id=str)
_LOCKED_BY_STRIPE_ID = CompiledQuery(
    lambda stripe_id: (
        Subscription.objects.select_for_update()
        .filter(stripe_subscription_id=stripe_id)
        .values(*columns(Subscription))
    ),
    stripe_id=str,
)
_LOCKED = CompiledQuery(
    lambda pk: (
        Subscription.objects.select_for_update().filter(pk=pk).values(*columns(Subscription))
    ),
    pk=int,
)


def _locked(query: CompiledQuery, **values: Any) -> Subscription | None:
    row = query.first(**values)
    return None if row is None else loaded(Subscription, row, query.db)


def _by_customer(
    stripe_id: str, data: shapes.Subscription
) -> tuple[Subscription | None, Subscriber | None, Customer | None] | None:
    """``locked_row``'s common case, with one read before the lock: the customer is ours
    and the row, if there is one, belongs to the customer's subscriber. ``None``
    for anything else (``locked_row`` then looks further)."""
    customer_id = object_id(data.get("customer"))
    if not customer_id:
        return None
    found = _CUSTOMER_AND_ROW.first(customer_id=customer_id, stripe_id=stripe_id)
    if found is None:
        return None
    customer = loaded(Customer, found, _CUSTOMER_AND_ROW.db, subscriber=get_subscriber_model())
    subscriber = cast(Subscriber | None, customer.subscriber)
    if subscriber is None:
        return None
    row_pk = found["row_pk"]
    if row_pk is not None and found["row_subscriber"] != customer.subscriber_id:
        return None
    tokens.lock_account(subscriber)
    if row_pk is None:
        # Not there before the lock; a delivery about the same subscription that
        # held the lock meanwhile (``created`` and ``updated`` come together) may
        # have made it, and this one must update it, not insert it again.
        made = _locked(_LOCKED_BY_STRIPE_ID, stripe_id=stripe_id)
        if made is None:
            return None, subscriber, customer
        if made.subscriber_id != subscriber.pk:
            return None  # not this customer's row after all: locked_row looks further
        made.subscriber = as_foreign_key(subscriber)
        return made, subscriber, customer if made.customer_id is None else None
    row = _locked(_LOCKED, pk=row_pk)
    if row is None:  # pragma: no cover - subscription rows are never deleted
        raise Subscription.DoesNotExist(f"subscription {row_pk} vanished under the lock")
    row.subscriber = as_foreign_key(subscriber)
    # A row that names its customer keeps it.
    return row, subscriber, customer if found["row_customer"] is None else None
