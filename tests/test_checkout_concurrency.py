"""Two first checkouts at once make one Stripe customer (PostgreSQL row locks)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from fiko_billing.models import Customer, Payment
from fiko_billing.testing import payloads
from tests.factories import PackagePriceFactory, SubscriberFactory
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
