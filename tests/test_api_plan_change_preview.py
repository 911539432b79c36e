"""POST subscription/change/preview/: Stripe's invoice preview of a plan switch, end to end.

The real SDK asks the emulator for the preview; the emulator prices it with
the engine that bills the change itself, so the preview is checked against
the invoice the switch then brings.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from fiko_billing.models import Payment, PaymentKind, Subscription
from fiko_billing.services.catalog_sync import sync_catalogue
from fiko_billing.testing.fixtures import deliver_webhooks
from fiko_billing.testing.hosted import CARD_SUCCEEDS, pay_checkout
from tests.factories import PackagePriceFactory, PlanPriceFactory, SubscriberFactory
from tests.resolvers import bearer, bearer_client
from tests.test_openapi import documented

PREVIEW = "/billing/subscription/change/preview/"
CHANGE = "/billing/subscription/change/"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(billing_live_server: Any, client: Any, settings: Any) -> Any:
    """Monthly ($5), Premium (monthly, $20) and Yearly ($10) on the emulator; a subscriber."""
    plans = {
        name: PlanPriceFactory(plan__name=name, plan__interval=interval, unit_amount=amount).plan
        for name, interval, amount in (
            ("Monthly", "month", 500),
            ("Premium", "month", 2_000),
            ("Yearly", "year", 1_000),
        )
    }
    sync_catalogue()
    deliver_webhooks(billing_live_server)
    api = bearer_client(client, settings, SubscriberFactory())
    api.emulator = billing_live_server
    api.plans = plans
    return api


def post(api: Any, url: str, body: dict[str, Any]) -> Any:
    return api.post(url, data=json.dumps(body), content_type="application/json")


def subscribe_monthly(api: Any) -> None:
    answer = post(
        api,
        "/billing/stripe/checkout-session/",
        {"plan_type": "full", "plan_id": api.plans["Monthly"].pk},
    )
    assert pay_checkout(answer.json()["url"], CARD_SUCCEEDS).paid
    deliver_webhooks(api.emulator)


def test_a_yearly_plan_is_charged_now_less_the_unused_month(shop: Any) -> None:
    subscribe_monthly(shop)
    yearly = shop.plans["Yearly"]
    # What the client sends besides the plan is ignored: prices come from the catalogue.
    response = post(shop, PREVIEW, {"plan_id": yearly.pk, "amount_due": 1})
    assert response.status_code == 200, response.content
    preview = documented(response)
    assert preview["plan"] == {"id": yearly.pk, "name": "Yearly", "interval": "year"}
    # The month was paid a moment ago: its unused time (all of it, to the cent) is credited.
    assert (preview["amount_due"], preview["display"], preview["currency"]) == (
        500,
        "$5.00",
        "usd",
    )
    assert preview["due_now"] is True
    assert [line["amount"] for line in preview["lines"]] == [-500, 1_000]
    assert Subscription.objects.get().plan.name == "Monthly"  # nothing changed

    assert post(shop, CHANGE, {"plan_id": yearly.pk}).status_code == 200
    deliver_webhooks(shop.emulator)
    charged = Payment.objects.get(kind=PaymentKind.PLAN_CHANGE)
    assert charged.amount == preview["amount_due"]


def test_a_plan_of_the_same_interval_is_billed_with_the_next_invoice(shop: Any) -> None:
    subscribe_monthly(shop)
    row = Subscription.objects.get()
    response = post(shop, PREVIEW, {"plan_id": shop.plans["Premium"].pk})
    preview = documented(response)
    assert preview["due_now"] is False
    assert row.current_period_end is not None
    assert datetime.fromisoformat(preview["due_at"]) == row.current_period_end.astimezone(UTC)
    # Next invoice: the unused month back, the rest of it on Premium, then a Premium month.
    assert [line["amount"] for line in preview["lines"]] == [2_000, -500, 2_000]
    assert (preview["amount_due"], preview["display"]) == (3_500, "$35.00")


def test_what_cannot_be_switched_cannot_be_previewed(shop: Any) -> None:
    no_plan = post(shop, PREVIEW, {"plan_id": shop.plans["Yearly"].pk})
    assert (no_plan.status_code, documented(no_plan)["error"]["code"]) == (404, "no_subscription")
    subscribe_monthly(shop)
    same = post(shop, PREVIEW, {"plan_id": shop.plans["Monthly"].pk})
    assert (same.status_code, documented(same)["error"]["code"]) == (409, "same_plan")
    unknown = post(shop, PREVIEW, {"plan_id": 999_999})
    assert (unknown.status_code, documented(unknown)["error"]["code"]) == (404, "plan_not_found")
    missing = post(shop, PREVIEW, {})
    assert (missing.status_code, documented(missing)["error"]["code"]) == (400, "missing_field")
    wrong = shop.get(PREVIEW)
    assert wrong.status_code == 405


def test_only_a_plan_can_be_previewed_and_only_for_ones_own_subscription(shop: Any) -> None:
    subscribe_monthly(shop)
    # A recurring token package, synced and sold in the subscription's currency, is no plan.
    package = PackagePriceFactory(
        package__interval="month", unit_amount=700, stripe_price_id="price_pack"
    ).package
    response = post(shop, PREVIEW, {"plan_id": package.pk})
    assert (response.status_code, documented(response)["error"]["code"]) == (
        404,
        "plan_not_found",
    )
    # Another subscriber previews nothing of the first one's subscription.
    shop.defaults["HTTP_AUTHORIZATION"] = bearer(SubscriberFactory())
    stranger = post(shop, PREVIEW, {"plan_id": shop.plans["Yearly"].pk})
    assert (stranger.status_code, documented(stranger)["error"]["code"]) == (
        404,
        "no_subscription",
    )


def test_query_budget(shop: Any, django_assert_num_queries: Any) -> None:
    subscribe_monthly(shop)
    # The subscriber, its current subscription with plan and price, the new plan, its price.
    with django_assert_num_queries(4):
        assert post(shop, PREVIEW, {"plan_id": shop.plans["Yearly"].pk}).status_code == 200
