"""Concurrent checkouts of one subscriber (PostgreSQL row locks): one Stripe customer,
one open subscription session."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from fiko_billing.models import Customer, Payment, PaymentStatus
from fiko_billing.testing import payloads
from tests.factories import (
    CustomerFactory,
    PackagePriceFactory,
    PlanPriceFactory,
    SubscriberFactory,
)
from tests.fake_checkout import CheckoutSessions
from tests.resolvers import bearer, use_bearer_resolver

THREADS = 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("row_exists", [False, True], ids=["no-row", "row-without-stripe-id"])
def test_concurrent_first_checkouts_create_one_customer(stripe_stub, settings, row_exists):
    use_bearer_resolver(settings)
    price = PackagePriceFactory(stripe_price_id="price_pkg")
    subscriber = SubscriberFactory()
    if row_exists:
        Customer.objects.create(subscriber=subscriber, stripe_customer_id=None)
    created = []
    lock = threading.Lock()

    def create_customer(request):
        # Stripe's idempotency would hide a second create; count the creates we make.
        with lock:
            created.append(request.headers["idempotency-key"])
            return payloads.customer(id=f"cus_{len(created)}")

    stripe_stub.on("POST", "/v1/customers", create_customer)
    stripe_stub.on(
        "POST",
        "/v1/checkout/sessions",
        lambda r: payloads.checkout_session(customer_id=r.params["customer"]),
    )
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []

    def checkout() -> None:
        try:
            client = Client(HTTP_AUTHORIZATION=bearer(subscriber))
            barrier.wait()
            response = client.post(
                "/billing/stripe/checkout-session/",
                data={"plan_type": "token", "plan_id": price.package_id},
                content_type="application/json",
            )
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=checkout) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * THREADS
    assert len(created) == 1
    assert Customer.objects.get().stripe_customer_id == "cus_1"
    assert {r.params["customer"] for r in stripe_stub.calls("POST", "/v1/checkout/sessions")} == {
        "cus_1"
    }
    assert Payment.objects.count() == THREADS


def run_at_once(calls: list[Any]) -> list[Any]:
    """Run the callables in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def buyer(subscriber: Any, plan_type: str, plan_id: int) -> Any:
    def buy() -> Any:
        response = Client(HTTP_AUTHORIZATION=bearer(subscriber)).post(
            "/billing/stripe/checkout-session/",
            data={"plan_type": plan_type, "plan_id": plan_id},
            content_type="application/json",
        )
        return response.status_code, response.json()

    return buy


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_checkouts_after_a_lost_answer_make_one_customer(stripe_stub, settings):
    """The first create is carried out by Stripe but answered with a 500; the others
    wait for the lock, find that customer and adopt it."""
    use_bearer_resolver(settings)
    price = PackagePriceFactory(stripe_price_id="price_pkg")
    subscriber = SubscriberFactory()
    made: list[dict[str, Any]] = []
    lock = threading.Lock()

    def create_customer(request: Any) -> Any:
        with lock:
            customer = payloads.customer(
                id=f"cus_{len(made) + 1}",
                metadata={
                    "fiko_subscriber": request.params["metadata[fiko_subscriber]"],
                    "fiko_subscriber_model": request.params["metadata[fiko_subscriber_model]"],
                },
            )
            made.append(customer)
            if len(made) == 1:
                return 500, payloads.error("Something went wrong.", type="api_error")
            return customer

    def list_customers(request: Any) -> Any:
        with lock:
            return payloads.list_of(list(reversed(made)), url="/v1/customers")

    stripe_stub.on("POST", "/v1/customers", create_customer)
    stripe_stub.on("GET", "/v1/customers", list_customers)
    stripe_stub.on(
        "POST",
        "/v1/checkout/sessions",
        lambda r: payloads.checkout_session(customer_id=r.params["customer"]),
    )

    results = run_at_once([buyer(subscriber, "token", price.package_id)] * THREADS)

    assert sorted(status for status, _body in results) == [200] * (THREADS - 1) + [502]
    assert [c["id"] for c in made] == ["cus_1"], "one Stripe customer, made by the failed attempt"
    assert Customer.objects.get().stripe_customer_id == "cus_1"
    assert {r.params["customer"] for r in stripe_stub.calls("POST", "/v1/checkout/sessions")} == {
        "cus_1"
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_subscription_checkouts_leave_one_open_session(stripe_stub, settings):
    """Two tabs, clicked again and again: whatever the interleaving, one session can be paid."""
    use_bearer_resolver(settings)
    monthly = PlanPriceFactory(stripe_price_id="price_m", plan__interval="month").plan
    yearly = PlanPriceFactory(stripe_price_id="price_y", plan__interval="year").plan
    subscriber = CustomerFactory(stripe_customer_id="cus_tabs").subscriber
    stripe = CheckoutSessions(stripe_stub)

    calls = [buyer(subscriber, "full", (monthly if i % 2 else yearly).pk) for i in range(THREADS)]
    results = run_at_once(calls)

    assert [status for status, _body in results] == [200] * THREADS
    (open_session,) = stripe.open()
    pending = Payment.objects.filter(status=PaymentStatus.PENDING)
    assert [p.stripe_checkout_session_id for p in pending] == [open_session]
    for payment in Payment.objects.exclude(pk=pending.get().pk):
        assert payment.status == PaymentStatus.EXPIRED
        assert stripe.sessions[payment.stripe_checkout_session_id]["status"] == "expired"
    assert len(stripe.sessions) == Payment.objects.count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_checkout_sent_many_times_at_once_opens_one_session(stripe_stub, settings):
    use_bearer_resolver(settings)
    monthly = PlanPriceFactory(stripe_price_id="price_m").plan
    subscriber = CustomerFactory(stripe_customer_id="cus_twice").subscriber
    stripe = CheckoutSessions(stripe_stub)

    results = run_at_once([buyer(subscriber, "full", monthly.pk)] * THREADS)

    assert [status for status, _body in results] == [200] * THREADS
    assert len({body["id"] for _status, body in results}) == 1
    assert len(stripe.sessions) == 1
    assert Payment.objects.get().status == PaymentStatus.PENDING
