"""Invoice payments: includable on the invoice, listed by invoice or payment intent,
and announced with ``invoice_payment.paid`` wherever an invoice is paid."""

from __future__ import annotations

from typing import Any

import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import Catalogue
from tests.emulator.helpers import (
    CARD_ALWAYS_AUTHENTICATE,
    CARD_FAILS_LATER,
    CARD_OK,
    events_of,
    get_page,
    post_form,
    subscribe,
)

DAY = 86_400


def _paid_by(emulator: Emulator, invoice_id: str) -> list[dict[str, Any]]:
    return [
        e["data"]["object"]
        for e in events_of(emulator, "invoice_payment.paid")
        if e["data"]["object"]["invoice"] == invoice_id
    ]


def _assert_paid_through_its_intent(
    sdk: stripe.StripeClient, emulator: Emulator, invoice_id: str
) -> None:
    """One ``invoice_payment.paid`` names the invoice and the intent that paid it."""
    invoice = sdk.v1.invoices.retrieve(invoice_id)
    assert invoice.status == "paid"
    (payment,) = _paid_by(emulator, invoice_id)
    assert (payment["object"], payment["status"], payment["amount_paid"]) == (
        "invoice_payment",
        "paid",
        invoice.amount_paid,
    )
    assert payment["payment"]["type"] == "payment_intent"
    pi = sdk.v1.payment_intents.retrieve(payment["payment"]["payment_intent"])
    assert (pi.status, pi.amount) == ("succeeded", invoice.amount_paid)
    listed = sdk.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": pi.id}}
    ).data
    assert [(p.invoice, p.status) for p in listed] == [(invoice_id, "paid")]
    types = emulator.event_types()
    assert types.index("invoice_payment.paid", types.index("charge.succeeded")) < types.index(
        "invoice.paid", types.index("charge.succeeded")
    )


def test_invoice_payments_listed_by_invoice_and_by_payment_intent(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    emulator.advance(days=29)
    invoices = sdk.v1.invoices.list(params={"subscription": sub_id}).data
    assert len(invoices) == 2
    for invoice in invoices:
        (payment,) = sdk.v1.invoice_payments.list(params={"invoice": invoice.id}).data
        pi_id = payment.payment.payment_intent
        by_intent = sdk.v1.invoice_payments.list(
            params={"payment": {"type": "payment_intent", "payment_intent": pi_id}}
        ).data
        assert [p.id for p in by_intent] == [payment.id]
        assert sdk.v1.invoice_payments.retrieve(payment.id).invoice == invoice.id
    assert (
        sdk.v1.invoice_payments.list(
            params={"payment": {"type": "payment_record", "payment_record": "prec_1"}}
        ).data
        == []
    )


def test_paid_for_the_first_invoice_through_checkout(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    _assert_paid_through_its_intent(
        sdk, emulator, sdk.v1.subscriptions.retrieve(sub_id).latest_invoice
    )


def test_paid_for_a_renewal(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    emulator.advance(days=29)
    renewal = sdk.v1.subscriptions.retrieve(sub_id).latest_invoice
    assert sdk.v1.invoices.retrieve(renewal).billing_reason == "subscription_cycle"
    _assert_paid_through_its_intent(sdk, emulator, renewal)


def test_paid_for_a_plan_change_invoiced_at_once(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    item = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    emulator.advance(days=10)
    sub = sdk.v1.subscriptions.update(
        sub_id,
        params={
            "items": [{"id": item.id, "price": catalogue.premium.id}],
            "proration_behavior": "always_invoice",
        },
    )
    assert sdk.v1.invoices.retrieve(sub.latest_invoice).billing_reason == "subscription_update"
    _assert_paid_through_its_intent(sdk, emulator, sub.latest_invoice)


def test_paid_when_the_customer_completes_3d_secure_on_the_invoice_page(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id, card=CARD_ALWAYS_AUTHENTICATE)
    since = len(emulator.event_types())
    emulator.advance(days=29)
    assert emulator.event_types()[since:] == [
        "customer.subscription.updated",
        "invoice.created",
        "invoice.finalized",
        "payment_intent.created",
        "payment_intent.requires_action",
        "invoice.payment_action_required",
        "invoice.payment_failed",
        "invoice.updated",
        "customer.subscription.updated",
    ]
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "past_due"
    invoice = sdk.v1.invoices.retrieve(sub.latest_invoice)
    page = get_page(invoice.hosted_invoice_url)
    assert 'value="authenticate"' in page.body
    challenge = post_form(invoice.hosted_invoice_url, {"action": "authenticate"})
    assert 'value="complete"' in challenge.body
    done = post_form(f"{invoice.hosted_invoice_url}/3ds", {"outcome": "complete"})
    assert "this invoice is paid" in done.body
    assert sdk.v1.subscriptions.retrieve(sub_id).status == "active"
    _assert_paid_through_its_intent(sdk, emulator, invoice.id)
    assert emulator.event_types()[-8:] == [
        "payment_intent.succeeded",
        "charge.succeeded",
        "charge.updated",
        "invoice_payment.paid",
        "invoice.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]


def test_failed_authentication_leaves_the_invoice_open(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id, card=CARD_ALWAYS_AUTHENTICATE)
    emulator.advance(days=29)
    invoice = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    post_form(invoice.hosted_invoice_url, {"action": "authenticate"})
    failed = post_form(f"{invoice.hosted_invoice_url}/3ds", {"outcome": "fail"})
    assert failed.status == 402
    assert sdk.v1.invoices.retrieve(invoice.id).status == "open"
    assert _paid_by(emulator, invoice.id) == []


def test_paid_when_the_past_due_invoice_is_paid_after_a_card_update(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id, card=CARD_FAILS_LATER)
    emulator.advance(days=29)
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "past_due"
    portal = sdk.v1.billing_portal.sessions.create(params={"customer": sub.customer})
    post_form(
        portal.url,
        {
            "action": "update_card",
            "card_number": CARD_OK,
            "card_expiry": "1/30",
            "card_cvc": "123",
        },
    )
    assert sdk.v1.subscriptions.retrieve(sub_id).status == "active"
    _assert_paid_through_its_intent(sdk, emulator, sub.latest_invoice)


def test_paid_with_a_new_card_on_the_invoice_page(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id, card=CARD_FAILS_LATER)
    emulator.advance(days=29)
    invoice = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    declined = post_form(
        invoice.hosted_invoice_url,
        {
            "action": "pay",
            "card_number": CARD_FAILS_LATER,
            "card_expiry": "1/30",
            "card_cvc": "123",
        },
    )
    # 0341 is declined off session only; on the page it pays.
    assert "this invoice is paid" in declined.body
    assert sdk.v1.subscriptions.retrieve(sub_id).status == "active"
    _assert_paid_through_its_intent(sdk, emulator, invoice.id)
