"""The demo's own tools and what a newcomer looks for on the billing page.

The developer panel (Stripe's clock, webhook deliveries, reset), the second
user, payment history with discounts, the price of a plan switch before it is
made, the past-due banner, and the emulator's Checkout and portal details.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import (
    CARD_CVC,
    CARD_EXPIRY,
    CARD_FAILS_AT_RENEWAL,
    CARD_SUCCEEDS,
    PLAYWRIGHT_MISSING,
    Billing,
    log_in,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response

expect: Any = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING).expect

pytestmark = pytest.mark.browser

DAY = 86_400


def not_found(page: Page) -> list[str]:
    """Every URL the page (and the pages it goes to) answered 404 for, from now on."""
    missing: list[str] = []

    def seen(response: Response) -> None:
        if response.status == 404:
            missing.append(response.url)

    page.on("response", seen)
    return missing


def stripe_now(page: Page) -> int:
    return int(page.get_by_test_id("stripe-time").get_attribute("data-value") or "")


def days_remaining(page: Page) -> int:
    text = page.get_by_test_id("days-remaining").inner_text()
    found = re.fullmatch(r"(\d+) days? remaining", text)
    assert found, text
    return int(found.group(1))


def panel_step(billing: Billing, test_id: str, notice: str) -> None:
    billing.click_and_wait(test_id)
    expect(billing.page.get_by_test_id("notice")).to_have_text(notice)


def one_month_later(timestamp: int) -> int:
    moment = datetime.fromtimestamp(timestamp, UTC)
    year, month = divmod(moment.year * 12 + moment.month, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return int(moment.replace(year=year, month=month + 1, day=day).timestamp())


def test_the_developer_panel_moves_stripes_clock_lists_webhooks_and_resets(
    billing: Billing,
) -> None:
    page = billing.page
    billing.subscribe_and_pay("monthly")
    deliveries = page.get_by_test_id("deliveries")
    expect(deliveries).to_contain_text("checkout.session.completed")
    completed = deliveries.locator("tr", has_text="checkout.session.completed").first
    expect(completed).to_contain_text("delivered · HTTP 200")
    before, days = stripe_now(page), days_remaining(page)
    assert 28 <= days <= 31

    panel_step(billing, "clock-day", "Moved Stripe's clock by one day.")
    expect(page.get_by_test_id("days-remaining")).to_have_text(f"{days - 1} days remaining")
    assert DAY <= stripe_now(page) - before < DAY + 60

    panel_step(billing, "clock-renewal", "Moved Stripe's clock past the next renewal.")
    # A new period: its days counted from Stripe's time, its allowance alone.
    assert 28 <= days_remaining(page) <= 31
    expect(page.get_by_test_id("token-balance")).to_have_text("10,000")
    expect(page.get_by_test_id("allowance")).to_have_text(
        "10,000 of your plan's 10,000 tokens per period"
    )
    expect(deliveries.locator("tr", has_text="invoice.paid").first).to_contain_text(
        "delivered · HTTP 200"
    )
    renewal = page.get_by_test_id("payments").locator('tr[data-kind="renewal"]')
    expect(renewal).to_contain_text("Paid")
    expect(renewal).to_contain_text("$5.00")
    expect(page.get_by_test_id("transactions")).to_contain_text("Expiry of plan allowance")

    before = stripe_now(page)
    panel_step(billing, "clock-month", "Moved Stripe's clock by one month.")
    assert one_month_later(before) <= stripe_now(page) < one_month_later(before) + 60

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("reset-button").click()
    page.wait_for_url("**/accounts/login/?reset=1")
    expect(page.get_by_test_id("reset-notice")).to_be_visible()
    log_in(page)
    billing.open()
    expect(page.get_by_test_id("plan-name")).to_have_text("No plan")
    expect(page.get_by_test_id("token-balance")).to_have_text("0")
    expect(page.get_by_test_id("payments-empty")).to_be_visible()
    assert abs(stripe_now(page) - billing.demo.stripe_now()) < 60
    assert billing.api("/billing/plans/")["plans"]  # the catalogue is back
    billing.subscribe_and_pay("monthly")  # and pushed to the fresh emulator


def test_alice_is_another_customer_and_a_discounted_purchase_shows_in_the_history(
    billing: Billing,
) -> None:
    page = billing.page
    billing.open()
    billing.buy("1000-tokens", quantity=2)
    billing.apply_promotion_code("DEMO20")
    billing.pay(CARD_SUCCEEDS)
    billing.wait_until_fulfilled()
    billing.back_to_billing()

    expect(page.get_by_test_id("token-balance")).to_have_text("2,000")
    expect(page.get_by_test_id("transactions").locator("tbody tr").first).to_contain_text(
        "2 × 1,000 tokens"  # noqa: RUF001
    )
    row = page.get_by_test_id("payments").locator("tbody tr").first
    expect(row.locator("td")).to_have_text(
        [
            re.compile(r".+"),
            "Token package: 2 × 1,000 tokens",  # noqa: RUF001
            "Paid",
            "$2.00",
            "-$0.40",
            "$1.60",
            "",
        ]
    )

    page.get_by_test_id("switch-user-alice").click()
    page.wait_for_url("/")
    expect(page.get_by_test_id("username")).to_have_text("alice")
    page.locator('[data-testid="token-balance"][data-value]').wait_for()
    expect(page.get_by_test_id("token-balance")).to_have_text("0")
    expect(page.get_by_test_id("payments-empty")).to_be_visible()
    assert billing.api("/billing/payments/")["results"] == []

    page.get_by_test_id("switch-user-demo").click()
    page.wait_for_url("/")
    expect(page.get_by_test_id("username")).to_have_text("demo")
    expect(page.get_by_test_id("token-balance")).to_have_text("2,000")


def test_alice_logs_in_with_her_password(billing: Billing) -> None:
    page = billing.page
    page.get_by_test_id("logout-button").click()
    page.goto("/accounts/login/")
    expect(page.locator("main")).to_contain_text("alice with the password alice")
    log_in(page, "alice", "alice")
    expect(page.get_by_test_id("switch-user-demo")).to_be_visible()


def test_a_switch_shows_its_price_first_and_costs_that(billing: Billing) -> None:
    page = billing.page
    billing.subscribe_and_pay("monthly")
    preview = page.get_by_test_id("plan-preview-yearly")
    # Yearly ($10) restarts the cycle now; the unused month ($5) is credited.
    expect(preview).to_have_text("You pay $5.00 today.")
    expect(page.get_by_test_id("plan-preview-monthly")).to_be_hidden()

    billing.click_and_wait("plan-switch-yearly")

    expect(page.get_by_test_id("plan-name")).to_have_text("Yearly")
    billing.demo.flush_webhooks()
    billing.reload()
    change = page.get_by_test_id("payments").locator('tr[data-kind="plan_change"]')
    expect(change).to_contain_text("$5.00")
    expect(change).to_contain_text("Paid")
    expect(page.get_by_test_id("plan-preview-monthly")).to_contain_text("You pay $0.00 today; $")


def test_past_due_banner_opens_the_card_form_and_a_new_card_pays(billing: Billing) -> None:
    page = billing.page
    missing = not_found(page)
    billing.subscribe_and_pay("monthly", CARD_FAILS_AT_RENEWAL)
    banner = page.get_by_test_id("past-due-banner")
    expect(banner).to_be_hidden()

    billing.click_and_wait("clock-renewal")

    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "past_due")
    expect(banner).to_be_visible()
    page.get_by_test_id("update-card-button").click()
    page.wait_for_url(f"{billing.demo.emulator}/portal/**")
    expect(page.locator("h1")).to_have_text("Update your payment method")
    expect(page.locator("#customer")).to_have_text("demo@example.com")
    page.fill("#card_number", CARD_SUCCEEDS)
    page.fill("#card_expiry", CARD_EXPIRY)
    page.fill("#card_cvc", CARD_CVC)
    page.click("#update_card")
    page.wait_for_url(f"{billing.demo.site}/billing/")
    billing.demo.flush_webhooks()
    billing.reload()

    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "active")
    expect(banner).to_be_hidden()
    renewal = page.get_by_test_id("payments").locator('tr[data-kind="renewal"]')
    expect(renewal).to_contain_text("Paid")
    expect(page.get_by_test_id("token-balance")).to_have_text("10,000")
    assert missing == []


def test_checkout_codes_can_be_removed_and_a_bad_one_clears_the_discount(
    billing: Billing,
) -> None:
    page = billing.page
    missing = not_found(page)
    billing.open()
    billing.buy("1000-tokens")
    billing.apply_promotion_code("DEMO20")
    expect(page.locator("#applied_code")).to_have_text("Code DEMO20 applied")
    expect(page.locator("#discount")).to_have_text("-0.20 USD")

    page.click("#remove_code")
    expect(page.locator("#notice")).to_have_text("Promotion code removed.")
    expect(page.locator("#discount")).to_have_count(0)
    expect(page.locator("#total")).to_have_text("1.00 USD")

    billing.apply_promotion_code("DEMO20")
    page.click("#remove_code")
    page.fill("#promotion_code", "NOPE")
    page.click("#apply")
    expect(page.locator("#error")).to_have_text("This code is invalid.")
    expect(page.locator("#discount")).to_have_count(0)
    expect(page.locator("#applied_code")).to_have_count(0)
    expect(page.locator("#total")).to_have_text("1.00 USD")

    billing.leave_checkout()  # and the page says Checkout was canceled
    assert missing == []
