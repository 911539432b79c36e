"""One open subscription checkout per subscriber: two tabs cannot end in two subscriptions.

A new subscription-mode Checkout Session expires the subscriber's other open
ones in Stripe; the same purchase asked again gets the session already open.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from fiko_billing.models import Customer, Payment, PaymentStatus
from fiko_billing.testing import payloads
from tests.factories import (
    CustomerFactory,
    PackagePriceFactory,
    PlanPriceFactory,
    SubscriberFactory,
)
from tests.fake_checkout import CheckoutSessions
from tests.resolvers import bearer, bearer_client

URL = "/billing/stripe/checkout-session/"
EXPIRE = r"/v1/checkout/sessions/\w+/expire"

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client: Any, settings: Any) -> Any:
    customer = CustomerFactory(stripe_customer_id="cus_tabs")
    return bearer_client(client, settings, customer.subscriber)


@pytest.fixture
def stripe(stripe_stub: Any) -> CheckoutSessions:
    return CheckoutSessions(stripe_stub)


@pytest.fixture
def plans(db: None) -> dict[str, Any]:
    return {
        "monthly": PlanPriceFactory(
            plan__name="Monthly", plan__interval="month", stripe_price_id="price_m"
        ).plan,
        "yearly": PlanPriceFactory(
            plan__name="Yearly", plan__interval="year", stripe_price_id="price_y", unit_amount=5000
        ).plan,
    }


def buy(client: Any, plan_id: int, plan_type: str = "full", **extra: Any) -> Any:
    return client.post(
        URL,
        data=json.dumps({"plan_type": plan_type, "plan_id": plan_id, **extra}),
        content_type="application/json",
    )


def status_of(session_id: str) -> str:
    return Payment.objects.get(stripe_checkout_session_id=session_id).status


def test_a_second_plan_in_another_tab_expires_the_first_session(api, stripe, stripe_stub, plans):
    first = buy(api, plans["monthly"].pk).json()
    second = buy(api, plans["yearly"].pk).json()

    assert first["id"] != second["id"]
    assert stripe.open() == [second["id"]], "only the newest session can still be paid"
    assert stripe.sessions[first["id"]]["status"] == "expired"
    assert status_of(first["id"]) == PaymentStatus.EXPIRED
    assert status_of(second["id"]) == PaymentStatus.PENDING
    (expire,) = stripe_stub.calls("POST", EXPIRE)
    assert expire.path == f"/v1/checkout/sessions/{first['id']}/expire"
    assert expire.params == {}
    assert expire.headers["idempotency-key"].startswith("fiko:expire:")


def test_the_same_purchase_asked_again_gets_the_open_session(api, stripe, stripe_stub, plans):
    """A double click, or the request sent twice: one session, both answers lead to it."""
    first = buy(api, plans["monthly"].pk)
    second = buy(api, plans["monthly"].pk)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(stripe_stub.calls("POST", "/v1/checkout/sessions")) == 1
    assert stripe_stub.calls("POST", EXPIRE) == []
    assert Payment.objects.count() == 1


def test_a_session_about_to_lapse_is_replaced_not_reused(api, stripe, plans):
    first = buy(api, plans["monthly"].pk).json()
    stripe.lapse(first["id"], in_seconds=10 * 60)
    second = buy(api, plans["monthly"].pk).json()
    assert second["id"] != first["id"]
    assert stripe.open() == [second["id"]]
    assert status_of(first["id"]) == PaymentStatus.EXPIRED


@pytest.mark.parametrize("other", ["quantity", "currency"])
def test_a_different_purchase_of_the_same_item_is_not_reused(api, stripe, other):
    package = PackagePriceFactory(stripe_price_id="price_rec", package__interval="month")
    if other == "currency":
        PackagePriceFactory(package=package.package, currency="eur", stripe_price_id="price_eur")
    first = buy(api, package.package_id, "token").json()
    again = {"quantity": 2} if other == "quantity" else {"currency": "eur"}
    second = buy(api, package.package_id, "token", **again).json()
    assert second["id"] != first["id"]
    assert stripe.open() == [second["id"]]


def test_a_session_stripe_already_expired_is_just_marked(api, stripe, stripe_stub, plans):
    first = buy(api, plans["monthly"].pk).json()
    stripe.lapse(first["id"])  # Stripe expired it; its webhook has not arrived
    second = buy(api, plans["yearly"].pk)
    assert second.status_code == 200
    assert status_of(first["id"]) == PaymentStatus.EXPIRED
    assert stripe.open() == [second.json()["id"]]


def test_a_session_unknown_to_stripe_is_marked_expired(api, stripe, plans):
    first = buy(api, plans["monthly"].pk).json()
    del stripe.sessions[first["id"]]  # made with the other mode's key, say
    assert buy(api, plans["yearly"].pk).status_code == 200
    assert status_of(first["id"]) == PaymentStatus.EXPIRED


def test_a_session_paid_meanwhile_refuses_the_new_checkout(api, stripe, stripe_stub, plans):
    """The other tab was paid a moment ago: a second subscription must not start."""
    first = buy(api, plans["monthly"].pk).json()
    stripe.complete(first["id"])
    response = buy(api, plans["yearly"].pk)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_subscribed"
    assert len(stripe_stub.calls("POST", "/v1/checkout/sessions")) == 1
    assert status_of(first["id"]) == PaymentStatus.PENDING  # fulfilment's to settle
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("answer", "delay", "status", "code"),
    [
        ((500, payloads.error("boom", type="api_error")), 0, 502, "stripe_error"),
        ((429, payloads.error("slow down", code="rate_limit")), 0, 502, "stripe_error"),
        (None, 30, 503, "stripe_timeout"),
    ],
    ids=["5xx", "rate-limited", "too-slow"],
)
def test_when_stripe_cannot_expire_no_new_session_is_opened(
    api, stripe, stripe_stub, plans, settings, answer, delay, status, code
):
    first = buy(api, plans["monthly"].pk).json()
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_REQUEST_TIME_BUDGET": 0.3}
    if answer is None:
        stripe_stub.on("POST", EXPIRE, stripe.expire, delay=delay)
    else:
        stripe_stub.on("POST", EXPIRE, answer)
    response = buy(api, plans["yearly"].pk)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert len(stripe_stub.calls("POST", "/v1/checkout/sessions")) == 1
    assert status_of(first["id"]) == PaymentStatus.PENDING
    assert Payment.objects.count() == 1


def test_sessions_expired_before_a_failure_stay_recorded(api, stripe, stripe_stub, plans):
    older = buy(api, plans["monthly"].pk).json()
    package = PackagePriceFactory(stripe_price_id="price_rec", package__interval="month")
    # Two open sessions (as after a deploy that predates this rule).
    newer = stripe.add("subscription", "cus_tabs")
    Payment.objects.create(
        subscriber=api.subscriber,
        kind="token_package",
        package=package.package,
        amount=500,
        currency="usd",
        stripe_checkout_session_id=newer["id"],
    )
    stripe_stub.on(
        "POST", "/v1/checkout/sessions", (500, payloads.error("boom", type="api_error"))
    )
    assert buy(api, plans["yearly"].pk).status_code == 502
    assert stripe.open() == []
    assert status_of(older["id"]) == status_of(newer["id"]) == PaymentStatus.EXPIRED


def test_one_time_packages_never_expire_anything(api, stripe, stripe_stub, plans):
    plan = buy(api, plans["monthly"].pk).json()
    package = PackagePriceFactory(stripe_price_id="price_once")
    buy(api, package.package_id, "token")
    buy(api, package.package_id, "token")
    assert stripe_stub.calls("POST", EXPIRE) == []
    assert len(stripe.open()) == 3
    assert status_of(plan["id"]) == PaymentStatus.PENDING


def test_a_recurring_package_is_a_subscription_too(api, stripe, plans):
    plan = buy(api, plans["monthly"].pk).json()
    package = PackagePriceFactory(stripe_price_id="price_rec", package__interval="month")
    topup = buy(api, package.package_id, "token").json()
    assert stripe.open() == [topup["id"]]
    assert status_of(plan["id"]) == PaymentStatus.EXPIRED


def test_another_subscribers_sessions_are_left_alone(api, stripe, stripe_stub, plans, client):
    mine = buy(api, plans["monthly"].pk).json()
    other = CustomerFactory(stripe_customer_id="cus_other").subscriber
    theirs = client.post(
        URL,
        data=json.dumps({"plan_type": "full", "plan_id": plans["yearly"].pk}),
        content_type="application/json",
        HTTP_AUTHORIZATION=bearer(other),
    ).json()
    assert sorted(stripe.open()) == sorted([mine["id"], theirs["id"]])
    assert stripe_stub.calls("POST", EXPIRE) == []


def test_checkouts_of_a_new_subscriber_create_the_customer_first(
    stripe, stripe_stub, client, settings, plans
):
    subscriber = SubscriberFactory()
    api = bearer_client(client, settings, subscriber)
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id="cus_first"))
    first = buy(api, plans["monthly"].pk).json()
    second = buy(api, plans["yearly"].pk).json()
    assert stripe.open() == [second["id"]]
    assert stripe.sessions[first["id"]]["customer"] == "cus_first"
    assert Customer.objects.get(subscriber=subscriber).stripe_customer_id == "cus_first"


def test_a_checkout_older_than_a_session_can_live_is_not_asked_about(
    api, stripe, stripe_stub, plans
):
    with time_machine.travel(timezone.now() - timedelta(hours=26)):
        old = buy(api, plans["monthly"].pk).json()
    buy(api, plans["yearly"].pk)
    assert stripe_stub.calls("POST", EXPIRE) == []
    assert stripe_stub.calls("GET", rf"/v1/checkout/sessions/{old['id']}") == []
