"""Hosted Checkout: each test card, the objects it leaves and the events, in order."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import START, Catalogue
from tests.emulator.helpers import (
    CARD_3DS,
    CARD_FAILS_LATER,
    CARD_INSUFFICIENT,
    get_page,
    pay,
    post_form,
)

FEB_28 = 1_772_272_800  # START + one month, clamped to February's last day

SUBSCRIPTION_EVENTS = [
    "customer.created",
    "payment_method.attached",
    "customer.subscription.created",
    "invoice.created",
    "invoice.finalized",
    "payment_intent.created",
    "payment_intent.succeeded",
    "charge.succeeded",
    "charge.updated",
    "invoice_payment.paid",
    "invoice.updated",
    "invoice.paid",
    "invoice.payment_succeeded",
    "customer.subscription.updated",
    "checkout.session.completed",
]


def new_events(emulator: Emulator, since: int) -> list[str]:
    return emulator.event_types()[since:]


def subscription_session(sdk: stripe.StripeClient, price: Any, **extra: Any) -> Any:
    params = {
        "mode": "subscription",
        "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": "https://app.example/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example/plans",
        **extra,
    }
    return sdk.v1.checkout.sessions.create(params=params)


def payment_session(sdk: stripe.StripeClient, price: Any, **extra: Any) -> Any:
    params = {
        "mode": "payment",
        "line_items": [{"price": price.id, "quantity": 2}],
        "success_url": "https://app.example/done?session_id={CHECKOUT_SESSION_ID}",
        **extra,
    }
    return sdk.v1.checkout.sessions.create(params=params)


def test_session_shape_before_payment(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    session = subscription_session(sdk, catalogue.monthly, client_reference_id="user-7")
    assert session.object == "checkout.session"
    assert session.id.startswith("cs_test_")
    assert session.url == f"{emulator.url}/checkout/{session.id}"
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.mode == "subscription"
    assert session.amount_subtotal == 2000
    assert session.amount_total == 2000
    assert session.currency == "usd"
    assert session.client_reference_id == "user-7"
    assert session.expires_at == START + 24 * 3600
    assert session.ui_mode == "hosted_page"
    assert session.subscription is None
    assert "shipping_details" not in session
    page = get_page(session.url)
    assert page.status == 200
    assert "Pro plan" in page.body
    assert "20.00 USD / month" in page.body
    assert 'href="https://app.example/plans"' in page.body
    assert "promotion_code" not in page.body


def test_subscription_checkout_with_4242(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    since = len(emulator.event_types())
    session = subscription_session(
        sdk,
        catalogue.monthly,
        metadata={"subscriber": "7"},
        subscription_data={"metadata": {"plan": "pro"}},
    )
    page = pay(session.url, name="Ada Lovelace")
    assert page.status == 303
    assert page.location == f"https://app.example/success?session_id={session.id}"

    done = sdk.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete"
    assert done.payment_status == "paid"
    assert done.amount_total == 2000
    assert done.total_details.amount_discount == 0
    assert done.metadata.to_dict() == {"subscriber": "7"}
    assert done.customer_details.email == "buyer@example.com"
    assert done.customer_details.name == "Ada Lovelace"

    customer = sdk.v1.customers.retrieve(done.customer)
    assert customer.email == "buyer@example.com"
    sub = sdk.v1.subscriptions.retrieve(done.subscription)
    assert sub.status == "active"
    assert sub.customer == customer.id
    assert sub.metadata.to_dict() == {"plan": "pro"}
    assert sub.latest_invoice == done.invoice
    assert sub.default_payment_method == customer.invoice_settings.default_payment_method
    assert "current_period_end" not in sub
    item = sub["items"].data[0]
    assert item.price.id == catalogue.monthly.id
    assert item.current_period_start == START
    assert item.current_period_end == FEB_28
    assert sub.billing_mode.type == "flexible"

    invoice = sdk.v1.invoices.retrieve(done.invoice)
    assert invoice.billing_reason == "subscription_create"
    assert invoice.status == "paid"
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (2000, 2000, 0)
    assert invoice.parent.type == "subscription_details"
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.parent.subscription_details.metadata.to_dict() == {"plan": "pro"}
    for removed in ("subscription", "paid", "payment_intent", "charge"):
        assert removed not in invoice
    # Includable: only when expanded.
    assert "payments" not in invoice
    assert "confirmation_secret" not in invoice
    assert invoice.hosted_invoice_url == f"{emulator.url}/invoice/{invoice.id}"
    assert invoice.number == f"{customer.invoice_prefix}-0001"
    line = invoice.lines.data[0]
    assert line.amount == 2000
    assert line.parent.subscription_item_details.subscription_item == item.id
    assert line.pricing.price_details.price == catalogue.monthly.id
    assert (line.period.start, line.period.end) == (START, FEB_28)
    payments = sdk.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    assert [p.id for p in payments] == [
        p.id
        for p in sdk.v1.invoices.retrieve(invoice.id, params={"expand": ["payments"]}).payments
    ]
    payment = payments[0]
    assert payment.status == "paid"
    assert payment.amount_paid == 2000
    pi = sdk.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert pi.status == "succeeded"
    assert pi.amount == 2000
    assert pi.customer == customer.id
    charge = sdk.v1.charges.retrieve(pi.latest_charge)
    assert charge.status == "succeeded"
    assert charge.paid is True
    assert charge.payment_method_details.card.last4 == "4242"
    assert new_events(emulator, since) == SUBSCRIPTION_EVENTS
    hosted = get_page(invoice.hosted_invoice_url)
    assert hosted.status == 200
    assert f"Invoice {invoice.number}" in hosted.body
    assert "1 × Pro plan (at 20.00 USD / month)" in hosted.body  # noqa: RUF001
    assert 'Amount paid</td><td class="amount">20.00 USD' in hosted.body


def test_subscription_events_carry_the_states_of_the_flow(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    session = subscription_session(sdk, catalogue.monthly)
    pay(session.url)
    events = {e.type: e for e in sdk.v1.events.list(params={"limit": 20}).data}
    assert events["customer.subscription.created"].data.object.status == "incomplete"
    assert events["invoice.created"].data.object.status == "draft"
    assert events["invoice.finalized"].data.object.status == "open"
    updated = events["customer.subscription.updated"]
    assert updated.data.object.status == "active"
    assert updated.data.previous_attributes.to_dict() == {"status": "incomplete"}
    completed = events["checkout.session.completed"]
    assert completed.data.object.status == "complete"
    assert completed.request.id is None
    assert completed.api_version == "2026-10-28.endive"


def test_payment_checkout_with_existing_customer(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    customer = sdk.v1.customers.create(params={"email": "known@example.com"})
    since = len(emulator.event_types())
    session = payment_session(
        sdk,
        catalogue.pack,
        customer=customer.id,
        payment_intent_data={"metadata": {"package": "1000"}},
    )
    assert session.amount_total == 1980
    page = pay(session.url)
    assert page.status == 303
    assert page.location == f"https://app.example/done?session_id={session.id}"
    done = sdk.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.customer == customer.id
    assert done.subscription is None
    assert done.invoice is None
    pi = sdk.v1.payment_intents.retrieve(done.payment_intent)
    assert (pi.status, pi.amount, pi.amount_received) == ("succeeded", 1980, 1980)
    assert pi.metadata.to_dict() == {"package": "1000"}
    assert pi.customer == customer.id
    assert new_events(emulator, since) == [
        "payment_intent.created",
        "payment_intent.succeeded",
        "charge.succeeded",
        "charge.updated",
        "checkout.session.completed",
    ]


def test_payment_mode_creates_a_customer_only_when_asked(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    guest = payment_session(sdk, catalogue.pack)
    pay(guest.url)
    assert sdk.v1.checkout.sessions.retrieve(guest.id).customer is None
    assert emulator.objects("customer") == []
    since = len(emulator.event_types())
    always = payment_session(sdk, catalogue.pack, customer_creation="always")
    pay(always.url)
    done = sdk.v1.checkout.sessions.retrieve(always.id)
    assert sdk.v1.customers.retrieve(done.customer).email == "buyer@example.com"
    assert new_events(emulator, since)[0] == "customer.created"


def test_3d_secure_complete_in_subscription_mode(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    session = subscription_session(sdk, catalogue.monthly)
    since = len(emulator.event_types())
    challenge = pay(session.url, card=CARD_3DS)
    assert challenge.status == 200
    assert "3D Secure" in challenge.body
    assert 'value="complete"' in challenge.body
    assert 'value="fail"' in challenge.body
    assert new_events(emulator, since) == []
    done = post_form(f"{session.url}/3ds", {"outcome": "complete"})
    assert done.status == 303
    assert done.location == f"https://app.example/success?session_id={session.id}"
    assert new_events(emulator, since) == SUBSCRIPTION_EVENTS
    finished = sdk.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["invoice.payments"]}
    )
    sub = sdk.v1.subscriptions.retrieve(finished.subscription)
    assert sub.status == "active"
    pi = sdk.v1.payment_intents.retrieve(finished.invoice.payments.data[0].payment.payment_intent)
    charge = sdk.v1.charges.retrieve(pi.latest_charge)
    assert charge.payment_method_details.card.three_d_secure.result == "authenticated"


def test_3d_secure_fail_in_subscription_mode(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    session = subscription_session(sdk, catalogue.monthly)
    since = len(emulator.event_types())
    pay(session.url, card=CARD_3DS)
    page = post_form(f"{session.url}/3ds", {"outcome": "fail"})
    assert page.status == 402
    assert "We are unable to authenticate your payment method." in page.body
    assert sdk.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert new_events(emulator, since) == []
    assert emulator.objects("subscription") == []
    assert emulator.objects("customer") == []
    assert pay(session.url).status == 303


def test_3d_secure_fail_then_retry_in_payment_mode(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    session = payment_session(sdk, catalogue.pack)
    since = len(emulator.event_types())
    assert "3D Secure" in pay(session.url, card=CARD_3DS).body
    failed = post_form(f"{session.url}/3ds", {"outcome": "fail"})
    assert failed.status == 402
    opened = sdk.v1.checkout.sessions.retrieve(session.id)
    assert opened.status == "open"
    pi = sdk.v1.payment_intents.retrieve(opened.payment_intent)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.code == "payment_intent_authentication_failure"
    assert new_events(emulator, since) == [
        "payment_intent.created",
        "payment_intent.requires_action",
        "payment_intent.payment_failed",
    ]
    assert pay(session.url).status == 303
    assert sdk.v1.payment_intents.retrieve(pi.id).status == "succeeded"
    assert sdk.v1.checkout.sessions.retrieve(session.id).payment_intent == pi.id


def test_3d_secure_complete_in_payment_mode(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    session = payment_session(sdk, catalogue.pack)
    pay(session.url, card=CARD_3DS)
    assert post_form(f"{session.url}/3ds", {"outcome": "complete"}).status == 303
    done = sdk.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert done.payment_intent.status == "succeeded"


def test_insufficient_funds_in_payment_mode(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    session = payment_session(sdk, catalogue.pack)
    since = len(emulator.event_types())
    page = pay(session.url, card=CARD_INSUFFICIENT)
    assert page.status == 402
    assert "Your card has insufficient funds." in page.body
    opened = sdk.v1.checkout.sessions.retrieve(session.id)
    assert opened.status == "open"
    assert opened.payment_status == "unpaid"
    pi = sdk.v1.payment_intents.retrieve(opened.payment_intent)
    assert pi.status == "requires_payment_method"
    error = pi.last_payment_error
    assert (error.type, error.code, error.decline_code) == (
        "card_error",
        "card_declined",
        "insufficient_funds",
    )
    charge = sdk.v1.charges.retrieve(pi.latest_charge)
    assert (charge.status, charge.failure_code, charge.outcome.reason) == (
        "failed",
        "card_declined",
        "insufficient_funds",
    )
    assert new_events(emulator, since) == [
        "payment_intent.created",
        "payment_intent.payment_failed",
        "charge.failed",
    ]


def test_insufficient_funds_in_subscription_mode_creates_nothing(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    session = subscription_session(sdk, catalogue.monthly)
    since = len(emulator.event_types())
    page = pay(session.url, card=CARD_INSUFFICIENT)
    assert page.status == 402
    assert "Your card has insufficient funds." in page.body
    assert sdk.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert new_events(emulator, since) == []


def test_card_0341_pays_at_checkout(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    session = subscription_session(sdk, catalogue.monthly)
    assert pay(session.url, card=CARD_FAILS_LATER).status == 303
    done = sdk.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert done.subscription.status == "active"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"card_number": "4242 4242 4242 4241"}, "Your card number is invalid."),
        ({"card_number": ""}, "Your card number is incomplete."),
        ({"card_expiry": "01 / 20"}, "Your card&#x27;s expiration date is in the past."),
        ({"card_expiry": "13 / 30"}, "Your card&#x27;s expiration month is invalid."),
        ({"card_cvc": "1"}, "Your card&#x27;s security code is incomplete."),
    ],
)
def test_card_input_errors(
    sdk: stripe.StripeClient, catalogue: Catalogue, fields: dict[str, str], message: str
) -> None:
    session = payment_session(sdk, catalogue.pack)
    page = pay(session.url, **fields)
    assert page.status == 400
    assert message in page.body
    assert sdk.v1.checkout.sessions.retrieve(session.id).payment_intent is None


def test_promotion_code_on_the_page(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    coupon = sdk.v1.coupons.create(params={"percent_off": 25, "duration": "forever"})
    promo = sdk.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "SPRING25"}
    )
    session = subscription_session(sdk, catalogue.monthly, allow_promotion_codes=True)
    page = get_page(session.url)
    assert 'name="promotion_code"' in page.body
    wrong = post_form(session.url, {"action": "apply", "promotion_code": "NOPE"})
    assert wrong.status == 400
    assert "This code is invalid." in wrong.body
    applied = post_form(session.url, {"action": "apply", "promotion_code": "spring25"})
    assert applied.status == 200
    assert '<td class="amount" id="total">15.00 USD</td>' in applied.body
    assert '<td class="amount" id="discount">-5.00 USD</td>' in applied.body
    assert pay(session.url).status == 303
    done = sdk.v1.checkout.sessions.retrieve(session.id)
    assert (done.amount_subtotal, done.amount_total) == (2000, 1500)
    assert done.total_details.amount_discount == 500
    assert [d.to_dict() for d in done.discounts] == [
        {"coupon": coupon.id, "promotion_code": promo.id}
    ]
    invoice = sdk.v1.invoices.retrieve(done.invoice)
    assert (invoice.subtotal, invoice.total, invoice.amount_paid) == (2000, 1500, 1500)
    assert invoice.total_discount_amounts[0].amount == 500
    sub = sdk.v1.subscriptions.retrieve(done.subscription, params={"expand": []})
    assert len(sub.discounts) == 1
    assert sdk.v1.promotion_codes.retrieve(promo.id).times_redeemed == 1
    assert sdk.v1.coupons.retrieve(coupon.id).times_redeemed == 1
    items = sdk.v1.checkout.sessions.line_items.list(session.id)
    assert (items.data[0].amount_discount, items.data[0].amount_total) == (500, 1500)


def test_a_promotion_code_can_be_removed_and_a_bad_one_replaces_it(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    coupon = sdk.v1.coupons.create(params={"percent_off": 25, "duration": "forever"})
    sdk.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "SPRING25"}
    )
    session = subscription_session(sdk, catalogue.monthly, allow_promotion_codes=True)
    applied = post_form(session.url, {"action": "apply", "promotion_code": "SPRING25"})
    assert '<p class="notice" id="applied_code">Code <strong>SPRING25</strong> applied' in (
        applied.body
    )
    assert 'id="remove_code"' in applied.body
    assert 'name="promotion_code"' not in applied.body

    removed = post_form(session.url, {"action": "remove_code"})
    assert removed.status == 200
    assert "Promotion code removed." in removed.body
    assert 'id="discount"' not in removed.body
    assert '<td class="amount" id="total">20.00 USD</td>' in removed.body
    open_session = sdk.v1.checkout.sessions.retrieve(session.id)
    assert (open_session.amount_total, open_session.total_details.amount_discount) == (2000, 0)
    assert open_session.discounts == []

    post_form(session.url, {"action": "apply", "promotion_code": "SPRING25"})
    wrong = post_form(session.url, {"action": "apply", "promotion_code": "NOPE"})
    assert wrong.status == 400
    assert "This code is invalid." in wrong.body
    assert 'id="discount"' not in wrong.body
    assert 'id="applied_code"' not in wrong.body
    assert '<td class="amount" id="total">20.00 USD</td>' in wrong.body
    assert pay(session.url).status == 303
    done = sdk.v1.checkout.sessions.retrieve(session.id)
    assert (done.amount_total, done.total_details.amount_discount) == (2000, 0)


def test_discounts_parameter_in_payment_mode(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    coupon = sdk.v1.coupons.create(params={"amount_off": 300, "currency": "usd"})
    session = payment_session(sdk, catalogue.pack, discounts=[{"coupon": coupon.id}])
    assert (session.amount_total, session.total_details.amount_discount) == (1680, 300)
    pay(session.url)
    done = sdk.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert done.payment_intent.amount == 1680


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        (
            {"payment_method_types": ["card"]},
            "payment_method_types",
            "Received unknown parameter: payment_method_types",
        ),
        ({"ui_mode": "hosted"}, "ui_mode", "Invalid ui_mode: must be one of `hosted_page`"),
        (
            {"allow_promotion_codes": True, "discounts": [{"coupon": "X"}]},
            "discounts",
            "You may only specify one of these parameters: allow_promotion_codes, discounts.",
        ),
        (
            {"customer_creation": "always", "mode": "subscription"},
            "customer_creation",
            "`customer_creation` can only be used in `payment` mode.",
        ),
    ],
)
def test_rejected_session_parameters(
    sdk: stripe.StripeClient,
    catalogue: Catalogue,
    params: dict[str, Any],
    param: str,
    message: str,
) -> None:
    full = {
        "mode": "payment",
        "line_items": [{"price": catalogue.pack.id, "quantity": 1}],
        **params,
    }
    if full["mode"] == "subscription":
        full["line_items"] = [{"price": catalogue.monthly.id, "quantity": 1}]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.checkout.sessions.create(params=full)
    assert caught.value.param == param
    assert caught.value.user_message == message


def test_prices_must_fit_the_mode(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    with pytest.raises(stripe.InvalidRequestError) as recurring:
        payment_session(sdk, catalogue.monthly)
    assert recurring.value.param == "line_items[0][price]"
    assert (recurring.value.user_message or "").startswith(
        "You specified `payment` mode but passed a recurring price."
    )
    with pytest.raises(stripe.InvalidRequestError) as one_time:
        subscription_session(sdk, catalogue.pack)
    assert (one_time.value.user_message or "").startswith(
        "You must provide at least one recurring price"
    )
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        subscription_session(sdk, type("P", (), {"id": "price_nope"}))
    assert (unknown.value.code, unknown.value.param) == (
        "resource_missing",
        "line_items[0][price]",
    )
    sdk.v1.prices.update(catalogue.monthly.id, params={"active": False})
    with pytest.raises(stripe.InvalidRequestError) as inactive:
        subscription_session(sdk, catalogue.monthly)
    assert "inactive" in (inactive.value.user_message or "")


def test_completed_and_expired_sessions_cannot_be_paid(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    paid = payment_session(sdk, catalogue.pack)
    pay(paid.url)
    again = get_page(f"{emulator.url}/checkout/{paid.id}")
    assert again.status == 200
    assert "This purchase has been paid." in again.body
    assert pay(f"{emulator.url}/checkout/{paid.id}").status == 200
    assert len(emulator.objects("payment_intent")) == 1

    open_session = payment_session(sdk, catalogue.pack)
    expired = sdk.v1.checkout.sessions.expire(open_session.id)
    assert expired.status == "expired"
    assert expired.url is None
    assert emulator.event_types()[-1] == "checkout.session.expired"
    assert pay(f"{emulator.url}/checkout/{open_session.id}").status == 410
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.checkout.sessions.expire(open_session.id)


def test_session_without_success_url_shows_a_confirmation(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    session = sdk.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": catalogue.pack.id, "quantity": 1}]}
    )
    page = pay(session.url)
    assert page.status == 200
    assert "Thank you, your payment went through." in page.body


def test_list_sessions_and_line_items(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    first = payment_session(sdk, catalogue.pack)
    second = subscription_session(sdk, catalogue.monthly)
    pay(second.url)
    assert [s.id for s in sdk.v1.checkout.sessions.list().data] == [second.id, first.id]
    complete = sdk.v1.checkout.sessions.list(params={"status": "complete"})
    assert [s.id for s in complete.data] == [second.id]
    items = sdk.v1.checkout.sessions.line_items.list(
        first.id, params={"expand": ["data.price.product"]}
    )
    assert items.url == f"/v1/checkout/sessions/{first.id}/line_items"
    item = items.data[0]
    assert (item.object, item.quantity, item.amount_subtotal, item.amount_total) == (
        "item",
        2,
        1980,
        1980,
    )
    assert item.price.id == catalogue.pack.id
    assert item.price.product.name == "1000 tokens"
    assert item.description == "1000 tokens"


def test_page_escapes_what_it_echoes(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    session = payment_session(sdk, catalogue.pack)
    page = pay(session.url, card="1", email='"><script>alert(1)</script>')
    assert page.status == 400
    assert "<script>" not in page.body
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page.body


def test_subscription_checkout_for_an_existing_customer(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    customer = sdk.v1.customers.create(params={"email": "known@example.com"})
    session = subscription_session(sdk, catalogue.monthly, customer=customer.id)
    since = len(emulator.event_types())
    pay(session.url)
    assert new_events(emulator, since) == SUBSCRIPTION_EVENTS[1:]
    done = sdk.v1.checkout.sessions.retrieve(session.id)
    assert done.customer == customer.id
    assert len(emulator.objects("customer")) == 1
    sub = sdk.v1.subscriptions.retrieve(done.subscription)
    pm = sdk.v1.payment_methods.retrieve(sub.default_payment_method)
    assert pm.customer == customer.id


def test_3d_secure_answer_without_a_challenge_is_refused(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    session = subscription_session(sdk, catalogue.monthly)
    pay(session.url, card=CARD_INSUFFICIENT)
    since = len(emulator.event_types())
    forged = post_form(f"{session.url}/3ds", {"outcome": "complete"})
    assert forged.status == 402
    assert sdk.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert new_events(emulator, since) == []
    pay(session.url, card=CARD_3DS)
    assert post_form(f"{session.url}/3ds", {"outcome": "complete"}).status == 303
    assert post_form(f"{session.url}/3ds", {"outcome": "complete"}).status == 200
    assert len(emulator.objects("subscription")) == 1
