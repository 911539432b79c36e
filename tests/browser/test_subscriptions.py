"""A subscription over time: the portal, the page's buttons, renewals and the end of a plan.

Only the emulator's clock moves when a test advances it; the project keeps
the real time (see "What the emulator does not reproduce" in the quick start).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.browser.conftest import (
    CARD_FAILS_AT_RENEWAL,
    PLAYWRIGHT_MISSING,
    Billing,
    Demo,
)

expect: Any = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING).expect

pytestmark = pytest.mark.browser


def long_date(iso: str) -> str:
    """A date as the billing page writes it: 27 December 2026."""
    moment = datetime.fromisoformat(iso)
    return f"{moment.day} {moment:%B %Y}"


def test_cancel_in_the_portal_resume_and_switch_to_yearly_on_the_page(billing: Billing) -> None:
    page = billing.page
    billing.subscribe_and_pay("monthly")
    period_end = billing.api("/billing/account/")["current_period_end"]
    billing.open_portal()
    portal = page.locator("section.subscription").first
    expect(portal.locator("h2")).to_have_text("Monthly: 5.00 USD / month")
    expect(portal).to_contain_text("Status: active · Renews on ")

    portal.locator('button[id^="cancel-"]').click()

    expect(page.locator("#notice")).to_have_text(
        "Your subscription will be canceled at the end of the period."
    )
    expect(portal).to_contain_text("Status: active · Cancels on ")
    billing.leave_portal()
    status = page.get_by_test_id("plan-status")
    expect(status).to_have_text(f"Cancels on {long_date(period_end)}")
    expect(status).to_have_attribute("data-status", "canceling")
    expect(page.get_by_test_id("resume-button")).to_be_visible()
    expect(page.get_by_test_id("cancel-button")).to_be_hidden()
    account = billing.api("/billing/account/")
    assert (account["status"], account["cancel_at_period_end"]) == ("active", True)

    billing.click_and_wait("resume-button")

    expect(page.get_by_test_id("notice")).to_have_text("Your subscription will renew as usual.")
    expect(status).to_have_text("Active")
    expect(page.get_by_test_id("resume-button")).to_be_hidden()
    expect(page.get_by_test_id("cancel-button")).to_be_visible()
    account = billing.api("/billing/account/")
    assert (account["status"], account["cancel_at_period_end"]) == ("active", False)

    billing.click_and_wait("plan-switch-yearly")

    expect(page.get_by_test_id("notice")).to_have_text(
        "You are now on the Yearly plan; the price difference is prorated."
    )
    expect(page.get_by_test_id("plan-name")).to_have_text("Yearly")
    expect(status).to_have_text("Active")
    expect(page.get_by_test_id("plan-current-yearly")).to_be_visible()
    expect(page.get_by_test_id("plan-current-monthly")).to_be_hidden()
    expect(page.get_by_test_id("plan-switch-monthly")).to_be_visible()
    account = billing.api("/billing/account/")
    assert (account["plan"]["name"], account["plan"]["interval"], account["status"]) == (
        "Yearly",
        "year",
        "active",
    )


def test_switch_to_yearly_in_the_portal(billing: Billing) -> None:
    page = billing.page
    billing.subscribe_and_pay("monthly")
    billing.open_portal()

    page.locator('select[id^="price-"]').select_option(label="Yearly: 10.00 USD / year")
    page.get_by_role("button", name="Switch plan").click()

    expect(page.locator("#notice")).to_have_text("Your plan has been changed.")
    expect(page.locator("section.subscription h2").first).to_have_text("Yearly: 10.00 USD / year")
    billing.leave_portal()
    expect(page.get_by_test_id("plan-name")).to_have_text("Yearly")
    expect(page.get_by_test_id("plan-status")).to_have_text("Active")
    expect(page.get_by_test_id("plan-current-yearly")).to_be_visible()
    account = billing.api("/billing/account/")
    assert (account["plan"]["name"], account["status"]) == ("Yearly", "active")


def test_renewal_31_days_later_grants_the_allowance_again(billing: Billing, demo: Demo) -> None:
    page = billing.page
    billing.subscribe_and_pay("monthly")
    (first,) = billing.api("/billing/tokens/transactions/")["results"]

    # To the renewal, and the hour Stripe leaves its invoice a draft before charging it.
    demo.advance_clock(days=31, seconds=3600)
    demo.flush_webhooks()
    billing.reload()

    ledger = billing.api("/billing/tokens/transactions/")["results"]
    assert [(e["kind"], e["amount"], e["balance_after"], e["description"]) for e in ledger] == [
        ("grant", 10_000, 20_000, "Monthly allowance"),
        ("grant", 10_000, 10_000, "Monthly allowance"),
    ]
    renewal = ledger[0]
    assert ledger[1] == first
    assert renewal["reference"].startswith("invoice:")
    assert renewal["reference"] != first["reference"]
    # The next period's allowance lasts to the next period's end.
    assert datetime.fromisoformat(renewal["expires_at"]) > datetime.fromisoformat(
        first["expires_at"]
    )
    expect(page.get_by_test_id("token-balance")).to_have_text("20,000")
    rows = page.get_by_test_id("transactions").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("Monthly allowance")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("+10,000")
    expect(page.get_by_test_id("plan-status")).to_have_text("Active")
    payments = billing.api("/billing/payments/")["results"]
    assert [(p["kind"], p["status"], p["amount"]) for p in payments] == [
        ("renewal", "succeeded", 500),
        ("subscription", "succeeded", 500),
    ]


def test_renewal_with_card_0341_fails_and_the_plan_is_past_due(
    billing: Billing, demo: Demo
) -> None:
    page = billing.page
    billing.subscribe_and_pay("monthly", CARD_FAILS_AT_RENEWAL)
    expect(page.get_by_test_id("plan-status")).to_have_text("Active")

    # To the renewal, and the hour Stripe leaves its invoice a draft before charging it.
    demo.advance_clock(days=31, seconds=3600)
    demo.flush_webhooks()
    billing.reload()

    status = page.get_by_test_id("plan-status")
    expect(status).to_have_text("Past due: update your card in Manage billing")
    expect(status).to_have_attribute("data-status", "past_due")
    expect(page.get_by_test_id("plan-name")).to_have_text("Monthly")
    account = billing.api("/billing/account/")
    assert (account["plan"]["name"], account["status"]) == ("Monthly", "past_due")
    ledger = billing.api("/billing/tokens/transactions/")["results"]
    assert [(e["kind"], e["amount"]) for e in ledger] == [("grant", 10_000)]


def cancel_on_the_page(billing: Billing) -> str:
    """Cancel at period end with the page's button; the period's end as the API gives it."""
    billing.click_and_wait("cancel-button")
    period_end: str = billing.api("/billing/account/")["current_period_end"]
    expect(billing.page.get_by_test_id("notice")).to_have_text(
        f"Your plan stays active until {long_date(period_end)}, then ends."
    )
    expect(billing.page.get_by_test_id("plan-status")).to_have_text(
        f"Cancels on {long_date(period_end)}"
    )
    return period_end


def assert_plan_ended(billing: Billing) -> None:
    page = billing.page
    expect(page.get_by_test_id("plan-name")).to_have_text("No plan")
    expect(page.get_by_test_id("plan-status")).to_have_text("No subscription")
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "none")
    expect(page.get_by_test_id("plan-subscribe-monthly")).to_be_visible()
    expect(page.get_by_test_id("cancel-button")).to_be_hidden()
    expect(page.get_by_test_id("resume-button")).to_be_hidden()
    account = billing.api("/billing/account/")
    assert (account["plan"], account["status"], account["cancel_at_period_end"]) == (
        None,
        "none",
        False,
    )


def test_canceled_plan_ends_when_stripe_passes_its_period_end(
    billing: Billing, demo: Demo
) -> None:
    billing.subscribe_and_pay("monthly")
    cancel_on_the_page(billing)

    demo.advance_clock(days=32)
    demo.flush_webhooks()
    billing.reload()

    deleted = [d for d in demo.deliveries() if d["type"] == "customer.subscription.deleted"]
    assert [(d["state"], d["status_codes"]) for d in deleted] == [("delivered", [200])]
    assert_plan_ended(billing)


def lose_the_deletion_webhook(billing: Billing, demo: Demo) -> None:
    """Subscribe, cancel at period end, then let Stripe end it with its webhook dropped."""
    page = billing.page
    billing.subscribe_and_pay("monthly")
    period_end = cancel_on_the_page(billing)
    demo.add_fault("drop", types=["customer.subscription.deleted"], count=1)

    demo.advance_clock(days=32)
    demo.flush_webhooks()
    billing.reload()

    deleted = [d for d in demo.deliveries() if d["type"] == "customer.subscription.deleted"]
    assert [(d["state"], d["attempts"]) for d in deleted] == [("dropped", 0)]
    # Stripe ended it, but without the event the project still serves the plan.
    expect(page.get_by_test_id("plan-status")).to_have_text(f"Cancels on {long_date(period_end)}")
    assert billing.api("/billing/account/")["status"] == "active"


def test_lost_deletion_webhook_check_subscription_status_deactivates(
    billing: Billing, demo: Demo
) -> None:
    lose_the_deletion_webhook(billing, demo)

    # By the project's real clock the period has not ended yet: nothing to do.
    output = demo.manage("check_subscription_status", "--grace-days", "0")
    assert output.splitlines()[-1] == "0 overdue subscription(s) examined."

    # With the project's clock where Stripe's is (as in production, where
    # both move together), the command finds it, asks Stripe, and ends it.
    output = demo.manage_at(demo.stripe_now(), "check_subscription_status", "--grace-days", "0")
    assert output.splitlines()[-1] == "1 overdue subscription(s) examined: 1 deactivated."
    assert "Stripe says canceled" in output
    billing.reload()
    assert_plan_ended(billing)


def test_lost_deletion_webhook_is_recovered_from_stripes_events(
    billing: Billing, demo: Demo
) -> None:
    lose_the_deletion_webhook(billing, demo)

    output = demo.manage("sync_stripe_events", "--since", "1h")

    assert output.splitlines()[-1].endswith("; 1 stored: 1 processed.")
    billing.reload()
    assert_plan_ended(billing)
