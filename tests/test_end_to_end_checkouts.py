"""Two tabs, end to end: the real SDK against the emulator, its webhooks to our view."""

from __future__ import annotations

from typing import Any

import pytest

from fiko_billing import tokens
from fiko_billing.models import Payment, PaymentStatus, Subscription, SubscriptionStatus
from fiko_billing.services.catalog_sync import sync_catalogue
from fiko_billing.testing.hosted import CARD_SUCCEEDS, pay_checkout
from tests.factories import PlanPriceFactory, SubscriberFactory
from tests.resolvers import bearer_client
from tests.test_end_to_end import assert_no_failed_events, checkout, settle


@pytest.fixture
def tabs(billing_live_server: Any, client: Any, settings: Any) -> Any:
    monthly = PlanPriceFactory(
        plan__name="Monthly", unit_amount=500, plan__tokens_per_period=10_000
    ).plan
    yearly = PlanPriceFactory(
        plan__name="Yearly",
        plan__interval="year",
        unit_amount=5_000,
        plan__tokens_per_period=150_000,
    ).plan
    sync_catalogue()
    settle_emulator = billing_live_server
    api = bearer_client(client, settings, SubscriberFactory())
    api.emulator = settle_emulator
    api.monthly, api.yearly = monthly, yearly
    settle(api)
    return api


@pytest.mark.django_db(transaction=True)
def test_monthly_and_yearly_in_two_tabs_end_in_one_subscription(tabs):
    monthly = checkout(tabs, "full", tabs.monthly.pk)
    yearly = checkout(tabs, "full", tabs.yearly.pk)

    # The first tab's page is closed: Stripe says the session expired.
    first_tab = pay_checkout(monthly["url"], CARD_SUCCEEDS)
    assert first_tab.status == 410
    assert not first_tab.paid
    assert pay_checkout(yearly["url"], CARD_SUCCEEDS).paid
    settle(tabs)

    (row,) = Subscription.objects.filter(subscriber=tabs.subscriber)
    assert (row.status, row.plan_id) == (SubscriptionStatus.ACTIVE, tabs.yearly.pk)
    assert tokens.balance(tabs.subscriber) == 150_000
    assert Payment.objects.get(stripe_checkout_session_id=monthly["id"]).status == (
        PaymentStatus.EXPIRED
    )
    assert Payment.objects.get(stripe_checkout_session_id=yearly["id"]).status == (
        PaymentStatus.SUCCEEDED
    )
    sessions = {s["id"]: s["status"] for s in tabs.emulator.objects("checkout.session")}
    assert sessions == {monthly["id"]: "expired", yearly["id"]: "complete"}
    assert [s["id"] for s in tabs.emulator.objects("subscription")] == [row.stripe_subscription_id]
    assert_no_failed_events()


@pytest.mark.django_db(transaction=True)
def test_the_same_plan_twice_is_one_session_paid_once(tabs):
    first = checkout(tabs, "full", tabs.monthly.pk)
    second = checkout(tabs, "full", tabs.monthly.pk)
    assert first == second
    assert pay_checkout(second["url"], CARD_SUCCEEDS).paid
    settle(tabs)
    assert Subscription.objects.filter(subscriber=tabs.subscriber).count() == 1
    assert tokens.balance(tabs.subscriber) == 10_000
    assert len(tabs.emulator.objects("checkout.session")) == 1
    assert_no_failed_events()
