"""GET plans/ (public catalogue) and GET account/ (the subscriber's plan and tokens)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from fiko_billing import tokens
from fiko_billing.models import SubscriptionStatus
from fiko_billing.subscribers import get_subscriber_model
from tests.factories import (
    PackagePriceFactory,
    PlanFactory,
    PlanPriceFactory,
    SubscriberFactory,
    SubscriptionFactory,
    TokenPackageFactory,
)
from tests.resolvers import bearer_client
from tests.test_openapi import documented

PLANS = "/billing/plans/"
ACCOUNT = "/billing/account/"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def api(client, settings, db):
    return bearer_client(client, settings, SubscriberFactory())


def no_subscription(**overrides):
    return {
        "plan": None,
        "status": "none",
        "current_period_end": None,
        "days_remaining": 0,
        "cancel_at_period_end": False,
        "period_allowance": 0,
        "token_balance": 0,
        "currency": "usd",
        **overrides,
    }


# ---------------------------------------------------------------------- plans/


@pytest.mark.django_db
def test_plans_lists_active_items_and_prices_in_order_to_anyone(client):
    yearly = PlanFactory(name="Yearly", interval="year", tokens_per_period=150_000, sort_order=2)
    monthly = PlanFactory(
        name="Monthly", description="Billed monthly", tokens_per_period=10_000, sort_order=1
    )
    PlanPriceFactory(plan=yearly, currency="usd", unit_amount=12_000)
    PlanPriceFactory(plan=monthly, currency="usd", unit_amount=1_000)
    PlanPriceFactory(plan=monthly, currency="eur", unit_amount=900)
    PlanPriceFactory(plan=monthly, currency="gbp", unit_amount=800, active=False)
    PlanPriceFactory(plan__active=False, plan__sort_order=0)
    big = TokenPackageFactory(name="100k", tokens=100_000, sort_order=5)
    small = TokenPackageFactory(name="10k", tokens=10_000, sort_order=5)
    monthly_pack = TokenPackageFactory(name="Monthly pack", tokens=5_000, interval="month")
    PackagePriceFactory(package=big, currency="jpy", unit_amount=5_000)
    PackagePriceFactory(package=small, currency="usd", unit_amount=1_250)
    PackagePriceFactory(package=monthly_pack, currency="usd", unit_amount=300)
    PackagePriceFactory(package__active=False)

    response = client.get(PLANS)

    assert response.status_code == 200
    assert documented(response) == {
        "currency": "usd",
        "plans": [
            {
                "id": monthly.pk,
                "plan_type": "full",
                "name": "Monthly",
                "description": "Billed monthly",
                "interval": "month",
                "tokens_per_period": 10_000,
                "prices": [
                    {"currency": "eur", "unit_amount": 900, "display": "€9.00"},
                    {"currency": "usd", "unit_amount": 1_000, "display": "$10.00"},
                ],
            },
            {
                "id": yearly.pk,
                "plan_type": "full",
                "name": "Yearly",
                "description": "",
                "interval": "year",
                "tokens_per_period": 150_000,
                "prices": [{"currency": "usd", "unit_amount": 12_000, "display": "$120.00"}],
            },
        ],
        "token_packages": [
            {
                "id": monthly_pack.pk,
                "plan_type": "token",
                "name": "Monthly pack",
                "description": "",
                "tokens": 5_000,
                "recurring": True,
                "interval": "month",
                "prices": [{"currency": "usd", "unit_amount": 300, "display": "$3.00"}],
            },
            {
                "id": big.pk,
                "plan_type": "token",
                "name": "100k",
                "description": "",
                "tokens": 100_000,
                "recurring": False,
                "interval": None,
                "prices": [{"currency": "jpy", "unit_amount": 5_000, "display": "¥5,000"}],
            },
            {
                "id": small.pk,
                "plan_type": "token",
                "name": "10k",
                "description": "",
                "tokens": 10_000,
                "recurring": False,
                "interval": None,
                "prices": [{"currency": "usd", "unit_amount": 1_250, "display": "$12.50"}],
            },
        ],
    }


@pytest.mark.django_db
def test_plans_default_currency_follows_the_setting(client, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "CURRENCY": "eur"}
    response = client.get(PLANS)
    assert response.status_code == 200
    assert documented(response) == {"currency": "eur", "plans": [], "token_packages": []}


@pytest.mark.django_db
@pytest.mark.parametrize("count", [2, 20])
def test_plans_query_count_does_not_grow_with_the_catalogue(
    client, django_assert_num_queries, count
):
    for n in range(count):
        PlanPriceFactory(currency="usd")
        PlanPriceFactory(currency="eur", plan=PlanFactory(sort_order=n))
        PackagePriceFactory(currency="usd")
    # plans, their prices, packages, their prices
    with django_assert_num_queries(4):
        response = client.get(PLANS)
    assert response.status_code == 200
    body = documented(response)
    assert (len(body["plans"]), len(body["token_packages"])) == (2 * count, count)


@pytest.mark.django_db
def test_plans_when_billing_is_disabled_is_503(client, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "ENABLED": False}
    response = client.get(PLANS)
    assert response.status_code == 503
    assert documented(response) == {
        "error": {"code": "billing_disabled", "message": "Billing is not enabled."}
    }


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_plans_is_read_only(client, method):
    response = getattr(client, method)(PLANS)
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert documented(response)["error"] == {
        "code": "method_not_allowed",
        "message": f"{method.upper()} is not allowed here; use GET.",
    }


# ---------------------------------------------------------------------- account/


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization", [None, "Bearer sub-999999", "Bearer nonsense", "Basic x"]
)
def test_account_without_a_subscriber_is_401(client, settings, authorization):
    bearer_client(client, settings, SubscriberFactory())
    if authorization is None:
        del client.defaults["HTTP_AUTHORIZATION"]
    else:
        client.defaults["HTTP_AUTHORIZATION"] = authorization
    response = client.get(ACCOUNT)
    assert response.status_code == 401
    assert documented(response) == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
        }
    }


@pytest.mark.django_db
def test_account_anonymous_with_the_default_resolver_is_401(client):
    response = client.get(ACCOUNT)
    assert response.status_code == 401
    assert documented(response)["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_account_without_a_subscription(api, django_assert_num_queries):
    tokens.credit(api.subscriber, 250, kind="purchase", reference="cs_test_a")
    tokens.credit(SubscriberFactory(), 999, kind="purchase", reference="cs_test_b")
    # resolver, current subscription, balance
    with django_assert_num_queries(3):
        response = api.get(ACCOUNT)
    assert response.status_code == 200
    assert documented(response) == no_subscription(token_balance=250)


@pytest.mark.django_db
def test_account_with_an_active_subscription(api, django_assert_num_queries):
    price = PlanPriceFactory(
        currency="eur", plan__name="Team", plan__interval="month", plan__tokens_per_period=10_000
    )
    with time_machine.travel(NOW, tick=False):
        end = NOW + timedelta(days=10, hours=5)
        SubscriptionFactory(
            customer__subscriber=api.subscriber,
            plan=price.plan,
            price=price,
            quantity=2,
            current_period_start=NOW - timedelta(days=20),
            current_period_end=end,
            cancel_at_period_end=True,
        )
        tokens.credit(api.subscriber, 20_000, kind="grant", reference="in_1", expires_at=end)
        with django_assert_num_queries(3):
            response = api.get(ACCOUNT)
    assert response.status_code == 200
    assert documented(response) == {
        "plan": {"id": price.plan_id, "name": "Team", "interval": "month"},
        "status": "active",
        "current_period_end": "2026-03-11T17:00:00+00:00",
        "days_remaining": 11,
        "cancel_at_period_end": True,
        "period_allowance": 20_000,
        "token_balance": 20_000,
        "currency": "eur",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("left", "days"),
    [(timedelta(days=10), 10), (timedelta(days=10, seconds=1), 11), (timedelta(0), 0)],
)
def test_account_days_remaining_round_up_to_whole_days(api, left, days):
    with time_machine.travel(NOW, tick=False):
        SubscriptionFactory(customer__subscriber=api.subscriber, current_period_end=NOW + left)
        response = api.get(ACCOUNT)
    assert documented(response)["days_remaining"] == days


@pytest.mark.django_db
def test_account_period_already_over_counts_zero_days(api):
    with time_machine.travel(NOW, tick=False):
        SubscriptionFactory(
            customer__subscriber=api.subscriber, current_period_end=NOW - timedelta(days=2)
        )
        response = api.get(ACCOUNT)
    body = documented(response)
    assert (body["status"], body["days_remaining"]) == ("active", 0)


@pytest.mark.django_db
def test_account_cancel_at_date_counts_as_canceling(api):
    with time_machine.travel(NOW, tick=False):
        SubscriptionFactory(
            customer__subscriber=api.subscriber,
            current_period_end=NOW + timedelta(days=3),
            cancel_at=NOW + timedelta(days=3),
        )
        response = api.get(ACCOUNT)
    body = documented(response)
    assert (body["cancel_at_period_end"], body["days_remaining"]) == (True, 3)
    # Without a price the account reports the default currency.
    assert body["currency"] == "usd"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (SubscriptionStatus.TRIALING, "trialing"),
        (SubscriptionStatus.PAST_DUE, "past_due"),
        (SubscriptionStatus.CANCELED, "none"),
        (SubscriptionStatus.INCOMPLETE, "none"),
        (SubscriptionStatus.UNPAID, "none"),
    ],
)
def test_account_shows_only_subscriptions_that_grant_the_plan(api, status, shown):
    SubscriptionFactory(customer__subscriber=api.subscriber, status=status)
    assert documented(api.get(ACCOUNT))["status"] == shown


@pytest.mark.django_db
def test_account_ignores_other_subscribers_and_package_subscriptions(api):
    SubscriptionFactory()
    SubscriptionFactory(
        customer__subscriber=api.subscriber,
        plan=None,
        package=TokenPackageFactory(interval="month"),
    )
    assert documented(api.get(ACCOUNT)) == no_subscription()


@pytest.mark.django_db
def test_account_prefers_the_subscription_that_runs_longest(api):
    with time_machine.travel(NOW, tick=False):
        short = PlanFactory(name="Short")
        long = PlanFactory(name="Long")
        customer = SubscriptionFactory(
            customer__subscriber=api.subscriber, plan=short, current_period_end=NOW + timedelta(1)
        ).customer
        SubscriptionFactory(customer=customer, plan=long, current_period_end=NOW + timedelta(30))
        response = api.get(ACCOUNT)
    assert documented(response)["plan"]["name"] == "Long"


@pytest.mark.django_db
def test_account_when_billing_is_disabled_is_503_even_anonymous(client, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "ENABLED": False}
    response = client.get(ACCOUNT)
    assert response.status_code == 503
    assert documented(response)["error"]["code"] == "billing_disabled"


@pytest.mark.django_db
def test_account_post_is_405(api):
    response = api.post(ACCOUNT)
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert documented(response)["error"]["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_account_with_a_session_login(django_user_model, django_assert_num_queries):
    if get_subscriber_model() is not django_user_model:
        pytest.skip("the default resolver returns request.user: users only")
    browser = Client(enforce_csrf_checks=True)
    user = SubscriberFactory()
    browser.force_login(user)
    tokens.credit(user, 40, kind="adjustment", reference="gift")
    # session, user, current subscription, balance
    with django_assert_num_queries(4):
        response = browser.get(ACCOUNT)
    assert response.status_code == 200
    assert documented(response) == no_subscription(token_balance=40)

    browser.logout()
    assert browser.get(ACCOUNT).status_code == 401
