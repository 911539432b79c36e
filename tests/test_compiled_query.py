"""A compiled read gives what its queryset gives, in one statement, for any values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import CharField, Value
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from fiko_billing.compiled_query import (
    CompiledQuery,
    KeyOf,
    columns,
    instance,
    key_type,
    loaded,
)
from fiko_billing.models import Customer, Subscription, WebhookEvent
from fiko_billing.subscribers import get_subscriber_model
from tests.factories import CustomerFactory, SubscriptionFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2031, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _events(kind: str, since: datetime) -> Any:
    return (
        WebhookEvent.objects.filter(type=kind, stripe_created__gte=since)
        .order_by("stripe_created")
        .values("stripe_event_id", "payload", "stripe_created", "livemode")
    )


EVENTS = CompiledQuery(_events, kind=str, since=datetime)


def test_rows_and_their_converted_values_equal_the_querysets():
    for number in range(4):
        WebhookEventFactory(
            type="invoice.paid" if number % 2 else "invoice.payment_failed",
            stripe_created=T0 + timedelta(minutes=number),
            payload={"n": number, "nested": {"text": "\u00e9\u00fc"}},
        )
    for kind, since in [
        ("invoice.paid", T0),
        ("invoice.paid", T0 + timedelta(minutes=2)),
        ("invoice.payment_failed", T0 - timedelta(days=1)),
        ("charge.refunded", T0),
    ]:
        assert EVENTS.all(kind=kind, since=since) == list(_events(kind, since))


def test_each_run_is_one_statement_and_the_queryset_is_built_once():
    WebhookEventFactory(type="invoice.paid", stripe_created=T0)
    built: list[str] = []

    def counted(kind: str, since: datetime) -> Any:
        built.append(kind)
        return _events(kind, since)

    events = CompiledQuery(counted, kind=str, since=datetime)
    events.all(kind="invoice.paid", since=T0)  # compiled here
    builds = len(built)
    with CaptureQueriesContext(connection) as queries:
        rows = events.all(kind="invoice.paid", since=T0)
        later = events.all(kind="invoice.payment_failed", since=T0 - timedelta(days=1))
    assert (len(rows), later) == (1, [])
    assert len(queries) == 2
    assert len(built) == builds  # no queryset built again for new values


def _customer_and_row(customer_id: str, stripe_id: str, note: str | None) -> Any:
    return (
        Customer.objects.filter(stripe_customer_id=customer_id)
        .annotate(note=Value(note, output_field=CharField()))
        .values(*columns(Customer), *columns(get_subscriber_model(), "subscriber__"), "note")
        .filter(
            pk__in=Subscription.objects.filter(stripe_subscription_id=stripe_id).values(
                "customer_id"
            )
        )
    )


CUSTOMER = CompiledQuery(_customer_and_row, customer_id=str, stripe_id=str, note=str | None)


def test_a_value_used_in_several_places_and_a_none_inside_value():
    subscription = SubscriptionFactory()
    customer = subscription.customer
    stripe_id = subscription.stripe_subscription_id
    for note in ("hello", None):
        (row,) = CUSTOMER.all(
            customer_id=customer.stripe_customer_id, stripe_id=stripe_id, note=note
        )
        assert row["note"] == note
        (expected,) = _customer_and_row(customer.stripe_customer_id, stripe_id, note)
        assert row == expected
    assert CUSTOMER.all(customer_id="cus_nobody", stripe_id=stripe_id, note=None) == []


def test_instances_made_of_a_row_equal_the_loaded_ones():
    customer = CustomerFactory()
    row = CUSTOMER.first(
        customer_id=customer.stripe_customer_id,
        stripe_id=SubscriptionFactory(customer=customer).stripe_subscription_id,
        note=None,
    )
    assert row is not None
    made = instance(Customer, row, using=CUSTOMER.db)
    subscriber = instance(get_subscriber_model(), row, "subscriber__", CUSTOMER.db)
    from_orm = Customer.objects.select_related("subscriber").get(pk=customer.pk)
    assert made is not None
    assert subscriber is not None
    assert [getattr(made, f.attname) for f in Customer._meta.concrete_fields] == [
        getattr(from_orm, f.attname) for f in Customer._meta.concrete_fields
    ]
    assert subscriber == from_orm.subscriber
    assert made._state.adding is False
    assert made._state.db == "default"
    # A relation that is not set gives no instance.
    assert (
        instance(get_subscriber_model(), {**row, "subscriber__id": None}, "subscriber__") is None
    )
    # ``loaded`` sets the related objects as select_related does.
    both = loaded(Customer, row, CUSTOMER.db, subscriber=get_subscriber_model())
    assert both.subscriber == subscriber
    erased = loaded(
        Customer, {**row, "subscriber__id": None}, CUSTOMER.db, subscriber=get_subscriber_model()
    )
    with CaptureQueriesContext(connection) as queries:
        assert erased.subscriber is None  # cached: no query
    assert len(queries) == 0
    with pytest.raises(ValueError, match="no Customer"):
        loaded(Customer, {**row, "id": None}, CUSTOMER.db)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kind": 1, "since": T0}, "kind must be"),
        ({"kind": "invoice.paid", "since": "2031-03-01"}, "since must be"),
        ({"kind": None, "since": T0}, "kind must be"),
        ({"kind": "invoice.paid"}, "expected the values"),
        ({"kind": "invoice.paid", "since": T0, "other": 1}, "expected the values"),
    ],
)
def test_wrong_values_are_refused(values, message):
    with pytest.raises(TypeError, match=message):
        EVENTS.all(**values)


def test_a_bool_is_not_an_int():
    by_pk = CompiledQuery(lambda pk: Customer.objects.filter(pk=pk).values("pk"), pk=int)
    with pytest.raises(TypeError, match="pk must be"):
        by_pk.all(pk=True)


def test_queries_that_cannot_be_compiled_are_refused_when_first_run():
    unused = CompiledQuery(lambda pk: Customer.objects.values("pk"), pk=int)
    with pytest.raises(ValueError, match=r"\['pk'\] did not reach"):
        unused.all(pk=1)
    instances = CompiledQuery(lambda pk: Customer.objects.filter(pk=pk), pk=int)
    with pytest.raises(ValueError, match="values"):
        instances.all(pk=1)
    with pytest.raises(TypeError, match="str, int or datetime"):
        CompiledQuery(lambda pk: Customer.objects.filter(pk=pk).values("pk"), pk=float)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused():
    locked = CompiledQuery(
        lambda pk: Customer.objects.select_for_update().filter(pk=pk).values("pk"), pk=int
    )
    customer = CustomerFactory()
    with pytest.raises(TransactionManagementError):
        locked.all(pk=customer.pk)  # compiling refuses it
    with transaction.atomic():
        assert locked.all(pk=customer.pk) == [{"pk": customer.pk}]
    with pytest.raises(TransactionManagementError):
        locked.all(pk=customer.pk)  # so does a run of the compiled SQL


def test_a_key_is_bound_as_its_model_binds_it():
    from django.db import models as django_models

    assert key_type(get_subscriber_model()) is int
    assert key_type(Subscription) is int

    class Meta:
        pk = django_models.UUIDField(primary_key=True)

    class Keyed:
        _meta = Meta

    assert key_type(Keyed) is None  # type: ignore[arg-type]
    Meta.pk = django_models.CharField(primary_key=True, max_length=20)
    assert key_type(Keyed) is str  # type: ignore[arg-type]


def _customers_of(subscriber: Any) -> Any:
    return Customer.objects.filter(subscriber_id=subscriber).values("stripe_customer_id")


def test_a_key_it_cannot_bind_leaves_the_query_to_the_orm(monkeypatch):
    customer = CustomerFactory()
    expected = [{"stripe_customer_id": customer.stripe_customer_id}]
    bound = CompiledQuery(_customers_of, subscriber=KeyOf(get_subscriber_model))
    assert bound.all(subscriber=customer.subscriber_id) == expected
    monkeypatch.setattr("fiko_billing.compiled_query.key_type", lambda model: None)
    unbound = CompiledQuery(_customers_of, subscriber=KeyOf(get_subscriber_model))
    with CaptureQueriesContext(connection) as queries:
        assert unbound.all(subscriber=customer.subscriber_id) == expected
    assert len(queries) == 1
    assert unbound.db == "default"
