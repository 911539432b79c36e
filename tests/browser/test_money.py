"""Money in the browser: a fixed card ends past due, two tabs never end in two plans."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import (
    CARD_CVC,
    CARD_EXPIRY,
    CARD_FAILS_AT_RENEWAL,
    CARD_SUCCEEDS,
    PLAYWRIGHT_MISSING,
    Billing,
    Demo,
)

expect: Any = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING).expect

pytestmark = pytest.mark.browser


def test_past_due_then_a_new_card_in_the_portal_ends_active(billing: Billing, demo: Demo) -> None:
    page = billing.page
    billing.subscribe_and_pay("monthly", CARD_FAILS_AT_RENEWAL)
    # To the renewal, and the hour Stripe leaves its invoice a draft: the charge fails.
    demo.advance_clock(days=31, seconds=3600)
    demo.flush_webhooks()
    billing.reload()
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "past_due")

    # In the same second of Stripe's clock: a new card pays the invoice at once.
    billing.open_portal()
    page.fill("#card_number", CARD_SUCCEEDS)
    page.fill("#card_expiry", CARD_EXPIRY)
    page.fill("#card_cvc", CARD_CVC)
    page.click("#update_card")
    expect(page.locator("#notice")).to_have_text("Your card has been updated.")
    billing.leave_portal()

    status = page.get_by_test_id("plan-status")
    expect(status).to_have_text("Active")
    expect(status).to_have_attribute("data-status", "active")
    account = billing.api("/billing/account/")
    assert (account["plan"]["name"], account["status"]) == ("Monthly", "active")
    payments = billing.api("/billing/payments/")["results"]
    assert [(p["kind"], p["status"]) for p in payments] == [
        ("renewal", "succeeded"),
        ("subscription", "succeeded"),
    ]
    ledger = billing.api("/billing/tokens/transactions/")["results"]
    assert [(e["kind"], e["amount"]) for e in ledger] == [("grant", 10_000), ("grant", 10_000)]
    # Both changes of that second reached us; the later one won.
    updates = [
        d
        for d in demo.deliveries()
        if d["type"] == "customer.subscription.updated" and d["state"] == "delivered"
    ]
    assert len(updates) >= 2


def test_two_tabs_paying_two_plans_end_with_one_plan_and_no_charge_kept_twice(
    billing: Billing, demo: Demo
) -> None:
    page = billing.page
    billing.open()
    second = page.context.new_page()
    second.goto(demo.site + "/")
    second.locator('[data-testid="token-balance"][data-value]').wait_for()
    tabs = Billing(second, demo)

    billing.subscribe("monthly")  # tab one: a checkout for Monthly
    tabs.subscribe("yearly")  # tab two: one for Yearly
    tabs.pay(CARD_SUCCEEDS)
    tabs.wait_until_fulfilled()
    billing.pay(CARD_SUCCEEDS)  # tab one pays too, if Stripe still lets it
    demo.flush_webhooks()
    billing.open()

    account = billing.api("/billing/account/")
    assert (account["plan"]["name"], account["status"]) == ("Yearly", "active")
    payments = billing.api("/billing/payments/")["results"]
    kept = [p for p in payments if p["status"] == "succeeded"]
    assert [(p["kind"], p["amount"]) for p in kept] == [("subscription", 1_000)]
    # Whatever else was charged was given back.
    others = [p for p in payments if p not in kept]
    assert all(p["status"] in ("expired", "pending", "refunded") for p in others), others
    live = [
        s
        for s in demo_subscriptions(demo)
        if s["status"] in ("active", "past_due", "trialing", "incomplete")
    ]
    assert len(live) == 1
    second.close()


def demo_subscriptions(demo: Demo) -> list[dict[str, Any]]:
    """Every subscription the emulator holds, through its API, as the site's key sees it."""
    output = demo.manage(
        "shell",
        "-c",
        "import json; from fiko_billing.gateway import get_gateway; "
        "print(json.dumps(list(get_gateway().list_all('/v1/subscriptions', {'status': 'all'}))))",
    )
    subscriptions: list[dict[str, Any]] = json.loads(output.strip().splitlines()[-1])
    return subscriptions


def test_a_second_plan_paid_elsewhere_is_canceled_and_refunded(
    billing: Billing, demo: Demo
) -> None:
    page = billing.page
    billing.subscribe_and_pay("monthly")
    # Another server (an old deploy, a support tool) opens a checkout for the same
    # subscriber with our metadata, which our checkout guard cannot see.
    url = (
        demo.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model\n"
            "from fiko_billing.gateway import get_gateway, new_idempotency_key\n"
            "from fiko_billing.models import Customer, Plan\n"
            "from fiko_billing.services.customers import subscriber_metadata\n"
            "user = get_user_model().objects.get(username='demo')\n"
            "plan = Plan.objects.get(name='Yearly')\n"
            "price = plan.prices.get(currency='usd')\n"
            "meta = {**subscriber_metadata(user), 'fiko_item': f'plan:{plan.pk}', "
            "'fiko_price': str(price.pk), 'fiko_quantity': '1'}\n"
            "session = get_gateway().create_checkout_session({'mode': 'subscription', "
            "'customer': Customer.objects.get(subscriber=user).stripe_customer_id, "
            "'line_items': [{'price': price.stripe_price_id, 'quantity': 1}], "
            "'success_url': 'http://localhost/', 'metadata': meta, "
            "'subscription_data': {'metadata': meta}}, "
            "idempotency_key=new_idempotency_key('elsewhere'))\n"
            "print(session['url'])",
        )
        .strip()
        .splitlines()[-1]
    )
    page.goto(url)
    page.locator("#pay").wait_for()
    billing.pay(CARD_SUCCEEDS)
    demo.flush_webhooks()
    billing.open()

    expect(page.get_by_test_id("plan-name")).to_have_text("Monthly")
    expect(page.get_by_test_id("plan-status")).to_have_text("Active")
    payments = billing.api("/billing/payments/")["results"]
    assert sorted((p["kind"], p["status"], p["amount"]) for p in payments) == [
        ("subscription", "refunded", 1_000),
        ("subscription", "succeeded", 500),
    ]
    refunded = next(p for p in payments if p["status"] == "refunded")
    assert refunded["amount_refunded"] == 1_000
    assert sorted(s["status"] for s in demo_subscriptions(demo)) == ["active", "canceled"]
    # The yearly allowance went back with the refund.
    ledger = billing.api("/billing/tokens/transactions/")["results"]
    assert sum(e["amount"] for e in ledger) == billing.balance()
