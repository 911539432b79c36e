"""Paying on the emulator's hosted Checkout: each test card, 3D Secure and a promotion code."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import (
    CARD_3D_SECURE,
    CARD_DECLINED,
    CARD_SUCCEEDS,
    PLAYWRIGHT_MISSING,
    Billing,
)

expect: Any = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING).expect

pytestmark = pytest.mark.browser


def assert_no_plan_and_no_tokens(billing: Billing) -> None:
    page = billing.page
    expect(page.get_by_test_id("plan-name")).to_have_text("No plan")
    expect(page.get_by_test_id("plan-status")).to_have_text("No subscription")
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "none")
    expect(page.get_by_test_id("token-balance")).to_have_text("0")
    expect(page.get_by_test_id("allowance")).to_have_text(
        "No tokens yet: subscribe or buy a package."
    )
    expect(page.get_by_test_id("plan-subscribe-monthly")).to_be_visible()
    account = billing.api("/billing/account/")
    assert (account["plan"], account["status"], account["token_balance"]) == (None, "none", 0)
    assert billing.api("/billing/tokens/transactions/")["results"] == []


def test_monthly_plan_paid_with_4242_is_active_with_its_allowance(billing: Billing) -> None:
    page = billing.page
    billing.open()
    billing.subscribe("monthly")
    expect(page.locator("#total")).to_have_text("5.00 USD")
    billing.pay(CARD_SUCCEEDS)

    session_id = billing.wait_until_fulfilled()
    expect(page.get_by_test_id("success-summary")).to_have_text(
        "Your subscription is active: $5.00 paid, 10,000 tokens for this period."
    )
    expect(page.get_by_test_id("token-balance")).to_have_text("10,000")
    billing.back_to_billing()

    expect(page.get_by_test_id("plan-name")).to_have_text("Monthly")
    expect(page.get_by_test_id("plan-status")).to_have_text("Active")
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "active")
    expect(page.get_by_test_id("token-balance")).to_have_text("10,000")
    expect(page.get_by_test_id("allowance")).to_have_text(
        "10,000 of your plan's 10,000 tokens per period"
    )
    expect(page.get_by_test_id("plan-current-monthly")).to_be_visible()
    expect(page.get_by_test_id("plan-switch-yearly")).to_be_visible()
    expect(page.get_by_test_id("cancel-button")).to_be_visible()
    shown = re.fullmatch(
        r"(\d+) days remaining", page.get_by_test_id("days-remaining").inner_text()
    )
    assert shown is not None
    days = int(shown.group(1))
    assert 28 <= days <= 31
    account = billing.api("/billing/account/")
    assert (
        account["plan"]["name"],
        account["status"],
        account["days_remaining"],
        account["cancel_at_period_end"],
        account["period_allowance"],
        account["token_balance"],
    ) == ("Monthly", "active", days, False, 10_000, 10_000)
    ledger = billing.api("/billing/tokens/transactions/")["results"]
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in ledger] == [
        ("grant", 10_000, 10_000)
    ]
    payments = billing.api("/billing/payments/")["results"]
    assert [
        (p["kind"], p["status"], p["amount"], p["currency"], p["checkout_session_id"])
        for p in payments
    ] == [("subscription", "succeeded", 500, "usd", session_id)]


def test_3d_secure_completed_activates_the_plan(billing: Billing) -> None:
    page = billing.page
    billing.open()
    billing.subscribe("monthly")
    billing.pay(CARD_3D_SECURE)

    expect(page.locator("h1")).to_have_text("3D Secure authentication")
    expect(page.locator("main")).to_contain_text(
        "confirm this payment of 5.00 USD with the card ending in 3155"
    )
    billing.three_d_secure("complete")
    billing.wait_until_fulfilled()
    billing.back_to_billing()

    expect(page.get_by_test_id("plan-name")).to_have_text("Monthly")
    expect(page.get_by_test_id("plan-status")).to_have_text("Active")
    expect(page.get_by_test_id("token-balance")).to_have_text("10,000")
    account = billing.api("/billing/account/")
    assert (account["status"], account["token_balance"]) == ("active", 10_000)


def test_3d_secure_failed_leaves_no_plan_and_no_tokens(billing: Billing) -> None:
    page = billing.page
    billing.open()
    billing.subscribe("monthly")
    billing.pay(CARD_3D_SECURE)
    billing.three_d_secure("fail")

    expect(page.locator("#error")).to_have_text(
        "We are unable to authenticate your payment method. "
        "Please choose a different payment method and try again."
    )
    expect(page.locator("#pay")).to_be_visible()
    billing.leave_checkout()

    assert_no_plan_and_no_tokens(billing)


def test_declined_card_shows_the_decline_and_changes_nothing(billing: Billing) -> None:
    page = billing.page
    billing.open()
    billing.subscribe("monthly")
    checkout_url = page.url
    billing.pay(CARD_DECLINED)

    expect(page.locator("#error")).to_have_text("Your card has insufficient funds.")
    assert page.url == checkout_url
    billing.leave_checkout()

    assert_no_plan_and_no_tokens(billing)


def test_promotion_code_demo20_takes_20_percent_off_the_first_payment(billing: Billing) -> None:
    page = billing.page
    plans = billing.api("/billing/plans/")["plans"]
    (monthly,) = [plan for plan in plans if plan["name"] == "Monthly"]
    (price,) = [p["unit_amount"] for p in monthly["prices"] if p["currency"] == "usd"]
    assert price == 500
    billing.open()
    billing.subscribe("monthly")
    expect(page.locator("#total")).to_have_text("5.00 USD")

    billing.apply_promotion_code("DEMO20")

    expect(page.locator("#notice")).to_have_text("Promotion code applied.")
    expect(page.locator("#discount")).to_have_text("-1.00 USD")
    expect(page.locator("#total")).to_have_text("4.00 USD")
    billing.pay(CARD_SUCCEEDS)
    session_id = billing.wait_until_fulfilled()
    expect(page.get_by_test_id("success-summary")).to_have_text(
        "Your subscription is active: $4.00 paid, 10,000 tokens for this period."
    )
    payments = billing.api("/billing/payments/")["results"]
    assert [(p["checkout_session_id"], p["status"], p["amount"]) for p in payments] == [
        (session_id, "succeeded", price * 80 // 100)
    ]
    assert payments[0]["amount"] == 400
