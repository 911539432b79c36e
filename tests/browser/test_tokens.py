"""Token packages: buying, spending on the page, and a purchase whose webhooks never arrive."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import CARD_SUCCEEDS, PLAYWRIGHT_MISSING, Billing, Demo

expect: Any = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING).expect

pytestmark = pytest.mark.browser


def test_100000_token_package_adds_exactly_its_tokens_and_use_100_spends_100(
    billing: Billing,
) -> None:
    page = billing.page
    billing.open()
    before = billing.balance()
    billing.buy("100000-tokens")
    expect(page.locator("#total")).to_have_text("50.00 USD")
    billing.pay(CARD_SUCCEEDS)

    session_id = billing.wait_until_fulfilled()
    expect(page.get_by_test_id("success-summary")).to_have_text(
        "You bought 100,000 tokens for $50.00."
    )
    billing.back_to_billing()
    assert billing.balance() == before + 100_000
    expect(page.get_by_test_id("token-balance")).to_have_text("100,000")
    expect(page.get_by_test_id("allowance")).to_have_text("Tokens left (no plan)")

    billing.click_and_wait("use-tokens-button")

    expect(page.get_by_test_id("notice")).to_have_text("Used 100 tokens.")
    expect(page.get_by_test_id("token-balance")).to_have_text("99,900")
    assert billing.balance() == before + 100_000 - 100
    rows = page.get_by_test_id("transactions").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("Used in the demo")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("-100")
    expect(rows.nth(0).locator("td").nth(3)).to_have_text("99,900")
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("+100,000")
    ledger = billing.api("/billing/tokens/transactions/")["results"]
    assert [(e["kind"], e["amount"], e["balance_after"], e["reference"]) for e in ledger] == [
        ("consume", -100, 99_900, None),
        ("purchase", 100_000, 100_000, f"checkout:{session_id}"),
    ]
    payments = billing.api("/billing/payments/")["results"]
    assert [(p["kind"], p["status"], p["amount"], p["tokens"]) for p in payments] == [
        ("token_package", "succeeded", 5_000, 100_000)
    ]


def test_spending_more_than_the_balance_shows_the_insufficient_tokens_message(
    billing: Billing,
) -> None:
    page = billing.page
    billing.open()
    billing.buy("1000-tokens")
    billing.pay(CARD_SUCCEEDS)
    billing.wait_until_fulfilled()
    billing.back_to_billing()
    expect(page.get_by_test_id("token-balance")).to_have_text("1,000")

    for left in range(900, -1, -100):
        billing.click_and_wait("use-tokens-button")
        expect(page.get_by_test_id("token-balance")).to_have_attribute("data-value", str(left))
    expect(page.get_by_test_id("error")).to_be_hidden()

    billing.click_and_wait("use-tokens-button")

    error = page.get_by_test_id("error")
    expect(error).to_be_visible()
    expect(error).to_have_text("Not enough tokens left: buy a package or subscribe to a plan.")
    expect(error).to_have_attribute("data-code", "insufficient_tokens")
    expect(page.get_by_test_id("token-balance")).to_have_text("0")
    assert billing.api("/billing/account/")["token_balance"] == 0
    ledger = billing.api("/billing/tokens/transactions/?page_size=100")["results"]
    assert [e["amount"] for e in ledger] == [-100] * 10 + [1_000]


@pytest.mark.parametrize(
    ("start", "summary", "balance"),
    [
        ("package", "You bought 1,000 tokens for $1.00.", 1_000),
        (
            "plan",
            "Your subscription is active: $5.00 paid, 10,000 tokens for this period.",
            10_000,
        ),
    ],
    ids=["package", "plan"],
)
def test_purchase_whose_webhooks_are_all_dropped_is_fulfilled_by_the_success_page(
    billing: Billing, demo: Demo, start: str, summary: str, balance: int
) -> None:
    page = billing.page
    billing.open()
    sent_before = len(demo.deliveries())
    # Every webhook from now on is lost: only the success page's status calls remain.
    demo.add_fault("drop", types=["*"], count=1_000)
    if start == "package":
        billing.buy("1000-tokens")
    else:
        billing.subscribe("monthly")
    billing.pay(CARD_SUCCEEDS)

    session_id = billing.wait_until_fulfilled()

    expect(page.get_by_test_id("success-summary")).to_have_text(summary)
    expect(page.get_by_test_id("token-balance")).to_have_attribute("data-value", str(balance))
    demo.flush_webhooks()
    lost = demo.deliveries()[sent_before:]
    assert "checkout.session.completed" in {d["type"] for d in lost}
    assert {(d["state"], d["attempts"]) for d in lost} == {("dropped", 0)}
    status = billing.api(f"/billing/stripe/checkout-session/{session_id}/")
    assert (status["fulfilled"], status["payment"]["status"], status["token_balance"]) == (
        True,
        "succeeded",
        balance,
    )
    billing.back_to_billing()
    expect(page.get_by_test_id("token-balance")).to_have_attribute("data-value", str(balance))
    account = billing.api("/billing/account/")
    expected_status = "none" if start == "package" else "active"
    assert (account["status"], account["token_balance"]) == (expected_status, balance)
    if start == "plan":
        expect(page.get_by_test_id("plan-name")).to_have_text("Monthly")
        expect(page.get_by_test_id("plan-status")).to_have_text("Active")
