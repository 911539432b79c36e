"""A slow Stripe costs a web request a few seconds at most, and polling cannot spend
Stripe's rate limit.

Stripe is made slow by the stub server's delayed answers; the budgets are
made small so that no test waits long.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache

from fiko_billing.models import Customer, Payment, PaymentStatus
from fiko_billing.testing import payloads
from tests.factories import (
    CustomerFactory,
    PackagePriceFactory,
    PaymentFactory,
    PlanPriceFactory,
    SubscriptionFactory,
)
from tests.resolvers import bearer_client
from tests.test_openapi import documented

pytestmark = pytest.mark.django_db

SLOW = 30  # seconds a slow Stripe would take; the stub stops waiting when the test ends
TIMEOUT_MESSAGE = (
    "The payment provider is taking too long to answer. Please try again in a moment."
)


@pytest.fixture
def api(client: Any, settings: Any, stripe_stub: Any) -> Any:
    customer = CustomerFactory(stripe_customer_id="cus_slow")
    bearer_client(client, settings, customer.subscriber)
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "STRIPE_REQUEST_TIME_BUDGET": 0.4,
        # What used to make a request wait about 92 s.
        "STRIPE_TIMEOUT": 30,
        "STRIPE_MAX_NETWORK_RETRIES": 2,
    }
    client.customer = customer
    return client


def post(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def buy(client: Any, package_id: int) -> Any:
    return post(
        client, "/billing/stripe/checkout-session/", {"plan_type": "token", "plan_id": package_id}
    )


def assert_timed_out(response: Any, started: float) -> None:
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert documented(response) == {
        "error": {"code": "stripe_timeout", "message": TIMEOUT_MESSAGE}
    }


def test_checkout_with_a_slow_stripe_answers_503_within_the_budget(api, stripe_stub):
    price = PackagePriceFactory(stripe_price_id="price_p")
    stripe_stub.on(
        "POST",
        "/v1/checkout/sessions",
        lambda r: payloads.checkout_session(customer_id="cus_slow"),
        delay=SLOW,
    )
    started = time.monotonic()
    response = buy(api, price.package_id)
    assert_timed_out(response, started)
    assert len(stripe_stub.requests) == 1, "no retry after the budget is spent"
    assert Payment.objects.count() == 0


def test_the_budget_is_for_the_whole_request_not_each_call(api, stripe_stub, settings):
    """Creating the customer and then the session: 1 s each, 1.5 s for both.

    Each call alone fits the budget with room for a loaded machine; both do not.
    """
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_REQUEST_TIME_BUDGET": 1.5}
    api.customer.stripe_customer_id = None
    api.customer.save()
    price = PackagePriceFactory(stripe_price_id="price_p")
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id="cus_new"), delay=1.0)
    stripe_stub.on(
        "POST",
        "/v1/checkout/sessions",
        lambda r: payloads.checkout_session(customer_id="cus_new"),
        delay=1.0,
    )
    started = time.monotonic()
    response = buy(api, price.package_id)
    assert_timed_out(response, started)
    # The customer was created and kept; the next attempt needs only the session.
    assert Customer.objects.get().stripe_customer_id == "cus_new"
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_REQUEST_TIME_BUDGET": 3}
    response = buy(api, price.package_id)
    assert response.status_code == 200


def test_portal_with_a_slow_stripe_answers_503(api, stripe_stub):
    stripe_stub.on(
        "POST",
        "/v1/billing_portal/sessions",
        payloads.portal_session(customer_id="cus_slow", return_url="http://localhost:8000/"),
        delay=SLOW,
    )
    started = time.monotonic()
    assert_timed_out(post(api, "/billing/stripe/customer-portal/", {}), started)


def test_cancel_with_a_slow_stripe_answers_503_and_changes_nothing(api, stripe_stub):
    price = PlanPriceFactory(stripe_price_id="price_m")
    row = SubscriptionFactory(
        customer=api.customer, plan=price.plan, price=price, stripe_subscription_id="sub_slow"
    )
    stripe_stub.on(
        "POST",
        "/v1/subscriptions/sub_slow",
        payloads.error("late", type="api_error"),
        status=500,
        delay=SLOW,
    )
    started = time.monotonic()
    assert_timed_out(post(api, "/billing/subscription/cancel/", {}), started)
    row.refresh_from_db()
    assert row.cancel_at_period_end is False


def test_status_poll_with_a_slow_stripe_answers_503(api, stripe_stub):
    payment = PaymentFactory(subscriber=api.subscriber, stripe_checkout_session_id="cs_test_slow")
    stripe_stub.on(
        "GET",
        "/v1/checkout/sessions/cs_test_slow",
        payloads.checkout_session(id="cs_test_slow"),
        delay=SLOW,
    )
    started = time.monotonic()
    assert_timed_out(api.get("/billing/stripe/checkout-session/cs_test_slow/"), started)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


# ---------------------------------------------------------------------- polling


@pytest.fixture
def poller(client: Any, settings: Any, stripe_stub: Any) -> Any:
    """A client on the success page.

    The interval is long, so a slow machine cannot let it pass between two
    polls of one test; a test that wants it passed clears the cache.
    """
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "CHECKOUT_STATUS_POLL_INTERVAL": 60}
    customer = CustomerFactory(stripe_customer_id="cus_poll")
    return bearer_client(client, settings, customer.subscriber)


@pytest.fixture
def pending(poller: Any, stripe_stub: Any) -> Any:
    price = PackagePriceFactory(stripe_price_id="price_p", package__tokens=100)
    payment = PaymentFactory(
        subscriber=poller.subscriber,
        package=price.package,
        tokens=100,
        stripe_checkout_session_id="cs_test_poll",
    )
    stripe_stub.on(
        "GET",
        "/v1/checkout/sessions/cs_test_poll",
        payloads.checkout_session(id="cs_test_poll", customer_id="cus_poll"),
    )
    return payment


def poll(client: Any) -> dict[str, Any]:
    response = client.get("/billing/stripe/checkout-session/cs_test_poll/")
    assert response.status_code == 200, response.content
    return documented(response)


def test_fast_polling_asks_stripe_once_per_interval(poller, stripe_stub, pending):
    answers = [poll(poller) for _ in range(10)]
    assert len(stripe_stub.requests) == 1
    assert all(a["fulfilled"] is False and a["payment"]["status"] == "pending" for a in answers)
    cache.clear()  # the interval has passed
    poll(poller)
    assert len(stripe_stub.requests) == 2


def test_polls_in_between_answer_what_a_webhook_recorded(poller, stripe_stub, pending):
    poll(poller)
    Payment.objects.filter(pk=pending.pk).update(status=PaymentStatus.EXPIRED)
    assert poll(poller)["payment"]["status"] == "expired"
    assert len(stripe_stub.requests) == 1


def test_each_checkout_has_its_own_interval(poller, stripe_stub, pending):
    PaymentFactory(subscriber=poller.subscriber, stripe_checkout_session_id="cs_test_other")
    stripe_stub.on(
        "GET", "/v1/checkout/sessions/cs_test_other", payloads.checkout_session(id="cs_test_other")
    )
    poll(poller)
    assert poller.get("/billing/stripe/checkout-session/cs_test_other/").status_code == 200
    assert len(stripe_stub.requests) == 2


def test_an_interval_of_zero_asks_stripe_on_every_poll(poller, stripe_stub, pending, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "CHECKOUT_STATUS_POLL_INTERVAL": 0}
    for _ in range(3):
        poll(poller)
    assert len(stripe_stub.requests) == 3


def test_a_throttled_poll_costs_three_queries(
    poller, stripe_stub, pending, django_assert_num_queries
):
    poll(poller)
    # resolver, payment, token balance
    with django_assert_num_queries(3):
        poll(poller)
    assert len(stripe_stub.requests) == 1


class BrokenCache(BaseCache):
    """A cache server that is down: every call raises, as django-redis does then."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)

    def add(self, *args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("cache server unreachable")


def test_a_failing_cache_answers_from_the_database(poller, stripe_stub, pending, settings, caplog):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.BrokenCache"}}
    answers = [poll(poller) for _ in range(3)]
    assert all(a["payment"]["status"] == "pending" for a in answers)
    assert stripe_stub.requests == []
    assert "the cache failed" in caplog.text
