"""Checkout -> emulator -> signed webhooks -> ledger, end to end, for each test card.

The real SDK talks to the emulator over HTTP; the emulator posts its events
to our webhook view on a live server thread; nothing is stubbed in between.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import call_command

from fiko_billing import tokens
from fiko_billing.models import (
    EntryKind,
    EventStatus,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
    TokenEntry,
    WebhookEvent,
)
from fiko_billing.services.catalog_sync import sync_catalogue
from fiko_billing.services.events import handled_event_types
from fiko_billing.testing.fixtures import deliver_webhooks
from fiko_billing.testing.hosted import (
    CARD_3D_SECURE,
    CARD_DECLINED,
    CARD_FAILS_AT_RENEWAL,
    CARD_SUCCEEDS,
    pay_checkout,
)
from tests.factories import PackagePriceFactory, PlanPriceFactory, SubscriberFactory
from tests.resolvers import bearer_client

DAY = 86_400
#: Stripe charges a renewal invoice an hour after creating it, at the period's end.
RENEWAL_DRAFT = 3_600


@pytest.fixture
def shop(billing_live_server: Any, client: Any, settings: Any) -> Any:
    """A synced catalogue on the emulator and a subscriber's API client."""
    plan = PlanPriceFactory(plan__name="Monthly", unit_amount=500, plan__tokens_per_period=10_000)
    package = PackagePriceFactory(
        package__name="100,000 tokens", unit_amount=5_000, package__tokens=100_000
    )
    sync_catalogue()
    deliver_webhooks(billing_live_server)  # product.created and the like: stored, ignored
    api = bearer_client(client, settings, SubscriberFactory())
    api.emulator = billing_live_server
    api.plan = plan.plan
    api.package = package.package
    return api


def checkout(api: Any, plan_type: str, plan_id: int, **extra: Any) -> dict[str, Any]:
    response = api.post(
        "/billing/stripe/checkout-session/",
        data=json.dumps({"plan_type": plan_type, "plan_id": plan_id, **extra}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def settle(api: Any) -> None:
    """Deliver every event the emulator queued, and wait for our answers."""
    deliver_webhooks(api.emulator)


def assert_no_failed_events() -> None:
    failed = list(
        WebhookEvent.objects.filter(status=EventStatus.FAILED).values_list("type", "last_error")
    )
    assert failed == []


@pytest.mark.django_db(transaction=True)
def test_4242_subscribes_and_grants_the_allowance_once(shop):
    session = checkout(shop, "full", shop.plan.pk)
    page = pay_checkout(session["url"], CARD_SUCCEEDS)
    assert page.paid
    assert page.location.endswith(f"session_id={session['id']}")
    settle(shop)

    row = Subscription.objects.get(subscriber=shop.subscriber)
    assert (row.status, row.plan_id) == (SubscriptionStatus.ACTIVE, shop.plan.pk)
    assert row.current_period_end is not None
    assert tokens.balance(shop.subscriber) == 10_000
    assert TokenEntry.objects.filter(kind=EntryKind.GRANT).count() == 1
    payment = Payment.objects.get(stripe_checkout_session_id=session["id"])
    assert payment.status == PaymentStatus.SUCCEEDED
    status = shop.get(f"/billing/stripe/checkout-session/{session['id']}/").json()
    assert status["fulfilled"] is True
    account = shop.get("/billing/account/").json()
    assert (account["status"], account["period_allowance"], account["token_balance"]) == (
        "active",
        10_000,
        10_000,
    )
    assert 28 <= account["days_remaining"] <= 31
    assert_no_failed_events()


@pytest.mark.django_db(transaction=True)
def test_4242_token_package_credits_exactly_its_tokens(shop):
    session = checkout(shop, "token", shop.package.pk)
    assert pay_checkout(session["url"], CARD_SUCCEEDS).paid
    settle(shop)
    assert tokens.balance(shop.subscriber) == 100_000
    assert TokenEntry.objects.get().reference == f"checkout:{session['id']}"
    assert_no_failed_events()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("outcome", "subscribed"), [("complete", True), ("fail", False)])
def test_3155_asks_for_3d_secure(shop, outcome, subscribed):
    session = checkout(shop, "full", shop.plan.pk)
    page = pay_checkout(session["url"], CARD_3D_SECURE, three_d_secure=outcome)
    assert page.paid is subscribed
    settle(shop)
    active = Subscription.objects.filter(
        subscriber=shop.subscriber, status=SubscriptionStatus.ACTIVE
    ).exists()
    assert active is subscribed
    assert tokens.balance(shop.subscriber) == (10_000 if subscribed else 0)
    status = shop.get(f"/billing/stripe/checkout-session/{session['id']}/").json()
    assert status["fulfilled"] is subscribed
    assert_no_failed_events()


@pytest.mark.django_db(transaction=True)
def test_9995_is_declined_and_nothing_is_granted(shop):
    session = checkout(shop, "full", shop.plan.pk)
    page = pay_checkout(session["url"], CARD_DECLINED)
    assert not page.paid
    assert "Your card has insufficient funds." in page.body
    settle(shop)
    assert not Subscription.objects.filter(subscriber=shop.subscriber).exists()
    assert tokens.balance(shop.subscriber) == 0
    assert Payment.objects.get().status == PaymentStatus.PENDING
    assert_no_failed_events()


@pytest.mark.django_db(transaction=True)
def test_renewal_refills_the_allowance(shop):
    session = checkout(shop, "full", shop.plan.pk)
    assert pay_checkout(session["url"], CARD_SUCCEEDS).paid
    settle(shop)
    tokens.consume(shop.subscriber, 4_000)

    shop.emulator.advance(days=31, seconds=RENEWAL_DRAFT)
    settle(shop)

    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    assert TokenEntry.objects.filter(kind=EntryKind.GRANT).count() == 2
    # Only the emulator's clock moved: seen from its "now", the first period's
    # 6,000 left expired with it, and the new period grants 10,000.
    emulator_now = datetime.fromtimestamp(shop.emulator.now(), tz=UTC)
    assert tokens.balance(shop.subscriber, now=emulator_now) == 10_000
    assert tokens.balance(shop.subscriber) == 16_000
    assert_no_failed_events()


@pytest.mark.django_db(transaction=True)
def test_0341_pays_at_checkout_and_fails_at_renewal(shop):
    session = checkout(shop, "full", shop.plan.pk)
    assert pay_checkout(session["url"], CARD_FAILS_AT_RENEWAL).paid
    settle(shop)
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE

    shop.emulator.advance(days=31, seconds=RENEWAL_DRAFT)
    settle(shop)

    assert Subscription.objects.get().status == SubscriptionStatus.PAST_DUE
    assert TokenEntry.objects.filter(kind=EntryKind.GRANT).count() == 1
    assert shop.get("/billing/account/").json()["status"] == "past_due"
    assert_no_failed_events()


@pytest.mark.django_db(transaction=True)
def test_dropped_webhooks_are_made_up_by_the_status_endpoint(shop):
    shop.emulator.add_fault("drop", count=1_000)
    session = checkout(shop, "token", shop.package.pk)
    assert pay_checkout(session["url"], CARD_SUCCEEDS).paid
    settle(shop)
    assert not WebhookEvent.objects.filter(type__startswith="checkout.").exists()
    status = shop.get(f"/billing/stripe/checkout-session/{session['id']}/").json()
    assert status["fulfilled"] is True
    assert status["token_balance"] == 100_000


@pytest.mark.django_db(transaction=True)
def test_duplicated_and_reordered_deliveries_change_nothing(shop):
    # One fault per delivery: the first four swap places with their successors,
    # every later one arrives twice.
    shop.emulator.add_fault("reorder", count=4)
    shop.emulator.add_fault("duplicate", count=1_000)
    session = checkout(shop, "full", shop.plan.pk)
    assert pay_checkout(session["url"], CARD_SUCCEEDS).paid
    settle(shop)
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    assert tokens.balance(shop.subscriber) == 10_000
    faults = [d["fault"] for d in shop.emulator.deliveries()]
    assert faults.count("reorder") == 4
    assert faults.count("duplicate") >= 4
    assert_no_failed_events()


@pytest.mark.django_db(transaction=True)
def test_setup_stripe_webhook_on_the_emulator_delivers_each_event_once(shop):
    url = shop.emulator.webhook_url
    out = io.StringIO()
    call_command("setup_stripe_webhook", "--url", url, stdout=out)
    assert "Created webhook endpoint" in out.getvalue()
    since = len(shop.emulator.deliveries())
    before = {e["id"] for e in shop.emulator.objects("event")}

    session = checkout(shop, "full", shop.plan.pk)
    assert pay_checkout(session["url"], CARD_SUCCEEDS).paid
    shop.emulator.advance(days=31, seconds=RENEWAL_DRAFT)
    settle(shop)

    deliveries = shop.emulator.deliveries()[since:]
    assert {d["url"] for d in deliveries} == {url}
    handled = set(handled_event_types())
    wanted = {
        e["id"]
        for e in shop.emulator.objects("event")
        if e["id"] not in before and e["type"] in handled
    }
    # Every event the endpoint enables, once; nothing else.
    per_event = Counter(d["event"] for d in deliveries)
    assert set(per_event) == wanted
    assert set(per_event.values()) == {1}
    # Each accepted at the first attempt: the project's configured secret
    # verifies the endpoint's deliveries.
    assert {(d["state"], d["attempts"]) for d in deliveries} == {("delivered", 1)}
    assert TokenEntry.objects.filter(kind=EntryKind.GRANT).count() == 2
    assert_no_failed_events()
