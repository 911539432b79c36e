"""POST subscription/cancel/, resume/ and change/, and the CSRF rule of every POST endpoint."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from fiko_billing.models import Subscription, SubscriptionStatus
from fiko_billing.subscribers import get_subscriber_model
from fiko_billing.testing import payloads
from tests.factories import (
    CustomerFactory,
    PlanFactory,
    PlanPriceFactory,
    SubscriberFactory,
    SubscriptionFactory,
)
from tests.resolvers import bearer, bearer_client, use_bearer_resolver
from tests.test_openapi import documented

CANCEL = "/billing/subscription/cancel/"
RESUME = "/billing/subscription/resume/"
CHANGE = "/billing/subscription/change/"
SUB_PATH = "/v1/subscriptions/sub_1"

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=20)
END = START + timedelta(days=30)
STRIPE_FAILED = "The payment provider could not process the request. Please try again."

#: The fields a failed Stripe call must leave as they were.
ROW_FIELDS = (
    "status",
    "plan_id",
    "price_id",
    "quantity",
    "current_period_end",
    "cancel_at_period_end",
    "cancel_at",
    "canceled_at",
    "ended_at",
    "stripe_state_at",
    "modified",
)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api(client, settings, db):
    return bearer_client(client, settings, SubscriberFactory())


@pytest.fixture
def monthly(db):
    return PlanPriceFactory(
        stripe_price_id="price_monthly_usd",
        unit_amount=500,
        plan__name="Monthly",
        plan__tokens_per_period=10_000,
        plan__stripe_product_id="prod_monthly",
    )


@pytest.fixture
def pro(db):
    return PlanPriceFactory(
        stripe_price_id="price_pro_usd",
        unit_amount=2_000,
        plan__name="Pro",
        plan__tokens_per_period=50_000,
        plan__stripe_product_id="prod_pro",
    )


@pytest.fixture
def row(api, monthly):
    customer = CustomerFactory(subscriber=api.subscriber, stripe_customer_id="cus_sub")
    return SubscriptionFactory(
        customer=customer,
        stripe_subscription_id="sub_1",
        plan=monthly.plan,
        price=monthly,
        current_period_start=START,
        current_period_end=END,
    )


def stripe_price(price):
    return payloads.price(
        id=price.stripe_price_id,
        product_id=price.plan.stripe_product_id,
        unit_amount=price.unit_amount,
        currency=price.currency,
        interval="month",
    )


def stripe_subscription(price, **overrides):
    """Stripe's answer for ``sub_1`` on ``price``, in the frozen period."""
    return payloads.subscription(
        id="sub_1",
        customer_id="cus_sub",
        price_obj=stripe_price(price),
        start=int(START.timestamp()),
        end=int(END.timestamp()),
        **overrides,
    )


def post(client, url, body=None, **extra):
    data = "" if body is None else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", **extra)


def account(price, **overrides):
    plan = price.plan
    return {
        "plan": {"id": plan.pk, "name": plan.name, "interval": "month"},
        "status": "active",
        "current_period_end": END.isoformat(),
        "days_remaining": 10,
        "cancel_at_period_end": False,
        "period_allowance": plan.tokens_per_period,
        "token_balance": 0,
        "currency": price.currency,
        **overrides,
    }


def snapshot(row):
    row.refresh_from_db()
    return {name: getattr(row, name) for name in ROW_FIELDS}


def assert_idempotency_key(recorded, prefix):
    assert re.fullmatch(rf"fiko:{prefix}:[0-9a-f]{{32}}", recorded.headers["idempotency-key"])


# ---------------------------------------------------------------------- without a subscription


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "body"), [(CANCEL, {}), (RESUME, {}), (CHANGE, {"plan_id": 1})])
def test_without_a_subscription_is_404(api, stripe_stub, monthly, url, body):
    SubscriptionFactory(stripe_subscription_id="sub_other", plan=monthly.plan)  # someone else's
    SubscriptionFactory(
        customer__subscriber=api.subscriber, plan=monthly.plan, status=SubscriptionStatus.CANCELED
    )
    response = post(api, url, body)
    assert response.status_code == 404
    assert documented(response) == {
        "error": {"code": "no_subscription", "message": "You have no active subscription."}
    }
    assert stripe_stub.requests == []


# ---------------------------------------------------------------------- cancel/


@pytest.mark.django_db
def test_cancel_at_period_end(api, stripe_stub, row, monthly, django_assert_num_queries):
    stripe_stub.on(
        "POST",
        SUB_PATH,
        stripe_subscription(monthly, cancel_at_period_end=True, cancel_at=int(END.timestamp())),
    )
    # resolver, current subscription; mirror: savepoint, row and subscriber, the
    # subscriber's ledger lock (one upsert, which also makes its row the first time),
    # row lock, price, update, release; the answer: subscription, balance
    with django_assert_num_queries(11):
        response = post(api, CANCEL)
    assert response.status_code == 200, response.content
    assert documented(response) == account(monthly, cancel_at_period_end=True)
    (call,) = stripe_stub.requests
    assert (call.method, call.path, call.params) == (
        "POST",
        SUB_PATH,
        {"cancel_at_period_end": "true"},
    )
    assert_idempotency_key(call, "cancel")
    row.refresh_from_db()
    assert (row.status, row.cancel_at_period_end, row.cancel_at) == ("active", True, END)
    assert row.stripe_state_at == NOW


@pytest.mark.django_db
def test_cancel_immediately_deletes_the_subscription(api, stripe_stub, row, monthly):
    stripe_stub.on(
        "DELETE",
        SUB_PATH,
        stripe_subscription(
            monthly,
            status="canceled",
            canceled_at=int(NOW.timestamp()),
            ended_at=int(NOW.timestamp()),
        ),
    )
    response = post(api, CANCEL, {"immediately": True})
    assert response.status_code == 200, response.content
    body = documented(response)
    assert (body["status"], body["plan"]["id"]) == ("canceled", monthly.plan_id)
    (call,) = stripe_stub.requests
    assert (call.method, call.path, call.params) == ("DELETE", SUB_PATH, {})
    row.refresh_from_db()
    assert (row.status, row.canceled_at, row.ended_at) == ("canceled", NOW, NOW)
    assert documented(api.get("/billing/account/"))["status"] == "none"


@pytest.mark.django_db
def test_cancel_immediately_false_is_at_period_end(api, stripe_stub, row, monthly):
    stripe_stub.on("POST", SUB_PATH, stripe_subscription(monthly, cancel_at_period_end=True))
    assert post(api, CANCEL, {"immediately": False}).status_code == 200
    assert stripe_stub.requests[0].params == {"cancel_at_period_end": "true"}


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["yes", 1, "true", None, [True]])
def test_cancel_immediately_must_be_a_boolean(api, stripe_stub, row, value):
    before = snapshot(row)
    response = post(api, CANCEL, {"immediately": value})
    assert response.status_code == 400
    assert documented(response) == {
        "error": {
            "code": "invalid_input",
            "message": "'immediately' must be true or false.",
            "fields": {"immediately": "Must be a boolean."},
        }
    }
    assert stripe_stub.requests == []
    assert snapshot(row) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "status"), [("POST", 500), ("POST", 429), ("DELETE", 404)])
def test_cancel_stripe_failure_is_502_and_changes_nothing(api, stripe_stub, row, method, status):
    stripe_stub.on(method, SUB_PATH, payloads.error("boom", type="api_error"), status=status)
    before = snapshot(row)
    response = post(api, CANCEL, {"immediately": method == "DELETE"})
    assert response.status_code == 502
    assert documented(response)["error"]["code"] == "stripe_error"
    assert len(stripe_stub.requests) == 1
    assert snapshot(row) == before


# ---------------------------------------------------------------------- resume/


@pytest.mark.django_db
def test_resume_when_not_canceling_is_409(api, stripe_stub, row):
    response = post(api, RESUME)
    assert response.status_code == 409
    assert documented(response) == {
        "error": {
            "code": "not_canceling",
            "message": "Your subscription is not scheduled to cancel.",
        }
    }
    assert stripe_stub.requests == []


@pytest.mark.django_db
def test_resume_undoes_the_cancellation(api, stripe_stub, row, monthly, django_assert_num_queries):
    Subscription.objects.filter(pk=row.pk).update(cancel_at_period_end=True, cancel_at=END)
    stripe_stub.on("POST", SUB_PATH, stripe_subscription(monthly))
    with django_assert_num_queries(11):
        response = post(api, RESUME)
    assert response.status_code == 200, response.content
    assert documented(response) == account(monthly)
    (call,) = stripe_stub.requests
    assert (call.method, call.path, call.params) == (
        "POST",
        SUB_PATH,
        {"cancel_at_period_end": "false"},
    )
    assert_idempotency_key(call, "resume")
    row.refresh_from_db()
    assert (row.cancel_at_period_end, row.cancel_at) == (False, None)


@pytest.mark.django_db
def test_resume_clears_a_dated_cancellation(api, stripe_stub, row, monthly):
    Subscription.objects.filter(pk=row.pk).update(cancel_at_period_end=False, cancel_at=END)
    stripe_stub.on("POST", SUB_PATH, stripe_subscription(monthly))
    response = post(api, RESUME)
    assert response.status_code == 200, response.content
    (call,) = stripe_stub.requests
    assert call.params == {"cancel_at": ""}
    row.refresh_from_db()
    assert row.cancel_at is None


@pytest.mark.django_db
def test_resume_stripe_failure_is_502_and_changes_nothing(api, stripe_stub, row):
    Subscription.objects.filter(pk=row.pk).update(cancel_at_period_end=True)
    stripe_stub.on("POST", SUB_PATH, payloads.error("boom", type="api_error"), status=500)
    before = snapshot(row)
    response = post(api, RESUME)
    assert response.status_code == 502
    assert documented(response) == {"error": {"code": "stripe_error", "message": STRIPE_FAILED}}
    assert snapshot(row) == before
    assert before["cancel_at_period_end"] is True


@pytest.mark.django_db
def test_resume_rejects_a_body_that_is_not_json(api, stripe_stub, row):
    response = api.post(RESUME, data="nope", content_type="application/json")
    assert response.status_code == 400
    assert documented(response)["error"]["code"] == "invalid_json"


# ---------------------------------------------------------------------- change/


@pytest.mark.django_db
def test_change_switches_the_price_with_proration(
    api, stripe_stub, row, monthly, pro, django_assert_num_queries
):
    current = stripe_subscription(monthly)
    item_id = current["items"]["data"][0]["id"]
    stripe_stub.on("GET", SUB_PATH, current)
    stripe_stub.on("POST", SUB_PATH, stripe_subscription(pro))
    # resolver, current subscription, plan, price; mirror: savepoint, customer, the
    # ledger lock (one upsert, which makes its row the first time), row lock, price,
    # update, release; the answer: subscription, balance
    with django_assert_num_queries(13):
        response = post(api, CHANGE, {"plan_id": pro.plan_id})
    assert response.status_code == 200, response.content
    assert documented(response) == account(pro)
    get, update = stripe_stub.requests
    assert (get.method, get.path, get.params) == ("GET", SUB_PATH, {})
    assert (update.method, update.path) == ("POST", SUB_PATH)
    assert update.params == {
        "items[0][id]": item_id,
        "items[0][price]": "price_pro_usd",
        "proration_behavior": "create_prorations",
        "metadata[fiko_item]": f"plan:{pro.plan_id}",
        "metadata[fiko_price]": str(pro.pk),
    }
    assert_idempotency_key(update, "change")
    row.refresh_from_db()
    assert (row.plan_id, row.price_id) == (pro.plan_id, pro.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("behavior", ["always_invoice", "none"])
def test_change_follows_the_proration_setting(
    api, stripe_stub, settings, row, monthly, pro, behavior
):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "PRORATION_BEHAVIOR": behavior}
    stripe_stub.on("GET", SUB_PATH, stripe_subscription(monthly))
    stripe_stub.on("POST", SUB_PATH, stripe_subscription(pro))
    assert post(api, CHANGE, {"plan_id": pro.plan_id}).status_code == 200
    assert stripe_stub.requests[1].params["proration_behavior"] == behavior


@pytest.mark.django_db
def test_change_to_the_same_plan_is_409(api, stripe_stub, row, monthly):
    response = post(api, CHANGE, {"plan_id": monthly.plan_id})
    assert response.status_code == 409
    assert documented(response) == {
        "error": {"code": "same_plan", "message": "You are already on Monthly."}
    }
    assert stripe_stub.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["unknown", "inactive"])
def test_change_to_an_unknown_or_inactive_plan_is_404(api, stripe_stub, row, which):
    plan_id = PlanPriceFactory(plan__active=False).plan_id if which == "inactive" else 999_999
    response = post(api, CHANGE, {"plan_id": plan_id})
    assert response.status_code == 404
    assert documented(response) == {
        "error": {"code": "plan_not_found", "message": f"No active plan with id {plan_id}."}
    }
    assert stripe_stub.requests == []


@pytest.mark.django_db
def test_change_to_a_plan_not_sold_in_the_subscriptions_currency_is_409(
    api, stripe_stub, row, pro
):
    eur = PlanPriceFactory(currency="eur", stripe_price_id="price_monthly_eur", plan=row.plan)
    Subscription.objects.filter(pk=row.pk).update(price=eur)
    PlanPriceFactory(plan=pro.plan, currency="gbp", stripe_price_id="price_pro_gbp")
    PlanPriceFactory(plan=pro.plan, currency="eur", stripe_price_id="price_pro_eur", active=False)
    response = post(api, CHANGE, {"plan_id": pro.plan_id})
    assert response.status_code == 409
    assert documented(response) == {
        "error": {"code": "unsupported_currency", "message": "Pro is not available in EUR."}
    }
    assert stripe_stub.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "missing_field", "plan_id"),
        ({"plan_id": None}, "missing_field", "plan_id"),
        ({"plan_id": "2"}, "invalid_input", "plan_id"),
        ({"plan_id": 0}, "invalid_input", "plan_id"),
        ({"plan_id": 2.0}, "invalid_input", "plan_id"),
        ({"plan_id": True}, "invalid_input", "plan_id"),
        ({"plan_id": 2**31}, "invalid_input", "plan_id"),
    ],
)
def test_change_bad_input_is_400(api, stripe_stub, row, body, code, field):
    response = post(api, CHANGE, body)
    assert response.status_code == 400
    error = documented(response)["error"]
    assert (error["code"], list(error["fields"])) == (code, [field])
    assert stripe_stub.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize("failing", ["GET", "POST"])
def test_change_stripe_failure_is_502_and_changes_nothing(
    api, stripe_stub, row, monthly, pro, failing
):
    stripe_stub.on("GET", SUB_PATH, stripe_subscription(monthly))
    stripe_stub.on("POST", SUB_PATH, stripe_subscription(pro))
    stripe_stub.on(failing, SUB_PATH, payloads.error("boom", type="api_error"), status=500)
    before = snapshot(row)
    response = post(api, CHANGE, {"plan_id": pro.plan_id})
    assert response.status_code == 502
    assert documented(response) == {"error": {"code": "stripe_error", "message": STRIPE_FAILED}}
    assert [r.method for r in stripe_stub.requests] == ["GET", "POST"][
        : 1 if failing == "GET" else 2
    ]
    assert snapshot(row) == before
    assert before["plan_id"] == monthly.plan_id


# ---------------------------------------------------------------------- shared rules


@pytest.mark.django_db
@pytest.mark.parametrize("url", [CANCEL, RESUME, CHANGE])
def test_anonymous_is_401_get_is_405_disabled_is_503(client, settings, stripe_stub, url):
    response = post(client, url, {"plan_id": 1})
    assert response.status_code == 401
    assert documented(response)["error"]["code"] == "not_authenticated"
    response = client.get(url)
    assert (response.status_code, response["Allow"]) == (405, "POST")
    assert documented(response)["error"]["code"] == "method_not_allowed"
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "ENABLED": False}
    response = post(client, url, {"plan_id": 1})
    assert response.status_code == 503
    assert documented(response)["error"]["code"] == "billing_disabled"
    assert stripe_stub.requests == []


# ---------------------------------------------------------------------- CSRF

#: Every POST endpoint outside checkout, with a body that reaches its service.
POSTS = [
    ("/billing/stripe/customer-portal/", {}, "no_customer"),
    (CANCEL, {}, "no_subscription"),
    (RESUME, {}, "no_subscription"),
    (CHANGE, {"plan_id": 1}, "no_subscription"),
]
CSRF_SECRET = "fikoCsrfSecretForTests0123456789"  # 32 characters, like Django's own


@pytest.fixture
def browser(django_user_model, db):
    """A browser logged in with the session cookie; CSRF enforced as in production."""
    if get_subscriber_model() is not django_user_model:
        pytest.skip("the default resolver returns request.user: users only")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(SubscriberFactory())
    return browser


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "body", "code"), POSTS)
def test_session_post_without_the_csrf_cookie_is_403(browser, stripe_stub, url, body, code):
    response = post(browser, url, body)
    assert response.status_code == 403
    assert documented(response) == {
        "error": {
            "code": "csrf_failed",
            "message": "CSRF verification failed: CSRF cookie not set.",
        }
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "CSRF token missing."),
        ("x" * 32, "CSRF token from the 'X-Csrftoken' HTTP header incorrect."),
    ],
)
def test_session_post_without_the_matching_header_is_403(browser, stripe_stub, header, reason):
    browser.cookies["csrftoken"] = CSRF_SECRET
    extra = {} if header is None else {"HTTP_X_CSRFTOKEN": header}
    response = post(browser, CANCEL, {}, **extra)
    assert response.status_code == 403
    assert documented(response)["error"] == {
        "code": "csrf_failed",
        "message": f"CSRF verification failed: {reason}",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "body", "code"), POSTS)
def test_session_post_with_the_csrf_header_reaches_the_endpoint(
    browser, stripe_stub, url, body, code
):
    browser.cookies["csrftoken"] = CSRF_SECRET
    token = browser.cookies["csrftoken"].value
    response = post(browser, url, body, HTTP_X_CSRFTOKEN=token)
    # Past the CSRF check, the endpoint's own answer: this subscriber has bought nothing yet.
    assert response.status_code == 404
    assert documented(response)["error"]["code"] == code


@pytest.mark.django_db
def test_session_post_with_the_csrf_header_cancels(browser, stripe_stub, monthly):
    user = get_subscriber_model().objects.get()
    CustomerFactory(subscriber=user, stripe_customer_id="cus_sub")
    SubscriptionFactory(
        customer=user.billing_customer,
        stripe_subscription_id="sub_1",
        plan=monthly.plan,
        price=monthly,
        current_period_end=END,
    )
    stripe_stub.on("POST", SUB_PATH, stripe_subscription(monthly, cancel_at_period_end=True))
    browser.cookies["csrftoken"] = CSRF_SECRET
    response = post(browser, CANCEL, HTTP_X_CSRFTOKEN=CSRF_SECRET)
    assert response.status_code == 200, response.content
    assert documented(response)["cancel_at_period_end"] is True


@pytest.mark.django_db
def test_a_request_with_an_authorization_header_is_not_csrf_checked(
    settings, stripe_stub, row, monthly
):
    use_bearer_resolver(settings)
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=bearer(row.subscriber))
    stripe_stub.on("POST", SUB_PATH, stripe_subscription(monthly, cancel_at_period_end=True))
    response = post(client, CANCEL)
    assert response.status_code == 200, response.content
    assert documented(response)["cancel_at_period_end"] is True


@pytest.mark.django_db
def test_change_to_a_plan_without_prices_is_409(api, stripe_stub, row):
    other = PlanFactory()
    response = post(api, CHANGE, {"plan_id": other.pk})
    assert response.status_code == 409
    assert documented(response)["error"]["code"] == "unsupported_currency"
    assert stripe_stub.requests == []
