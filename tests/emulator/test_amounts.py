"""Currencies and Stripe's minimum charge per currency, zero-decimal ones included."""

from __future__ import annotations

import pytest
import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import Catalogue
from tests.emulator.helpers import events_of, subscribe


@pytest.mark.parametrize(
    ("currency", "too_small", "enough", "shown"),
    [
        ("usd", 49, 50, "$0.50 usd"),
        ("eur", 49, 50, "€0.50 eur"),
        ("gbp", 29, 30, "£0.30 gbp"),
        ("jpy", 49, 50, "¥50 jpy"),
        ("chf", 49, 50, "0.50 chf"),
        ("mxn", 999, 1000, "10.00 mxn"),
    ],
)
def test_a_payment_below_the_minimum_charge_is_refused(
    sdk: stripe.StripeClient, currency: str, too_small: int, enough: int, shown: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.payment_intents.create(params={"amount": too_small, "currency": currency})
    error = refused.value
    assert (error.http_status, error.code, error.param) == (400, "amount_too_small", "amount")
    assert error.user_message == f"Amount must be at least {shown}"
    created = sdk.v1.payment_intents.create(params={"amount": enough, "currency": currency})
    assert (created.amount, created.currency) == (enough, currency)


@pytest.mark.parametrize("currency", ["xxq", "usdd", "", "XXQ"])
def test_an_unknown_currency_is_refused_everywhere(
    sdk: stripe.StripeClient, catalogue: Catalogue, currency: str
) -> None:
    attempts = [
        lambda: sdk.v1.prices.create(
            params={"product": catalogue.product.id, "unit_amount": 500, "currency": currency}
        ),
        lambda: sdk.v1.payment_intents.create(params={"amount": 500, "currency": currency}),
        lambda: sdk.v1.coupons.create(
            params={"amount_off": 100, "currency": currency, "duration": "once"}
        ),
    ]
    for attempt in attempts:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            attempt()
        assert refused.value.param == "currency"
        assert refused.value.user_message.startswith("Invalid currency: ")


def test_a_currency_in_capitals_is_accepted_in_lower_case(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    price = sdk.v1.prices.create(
        params={"product": catalogue.product.id, "unit_amount": 500, "currency": "EUR"}
    )
    assert price.currency == "eur"


def test_a_checkout_session_below_the_minimum_is_refused(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    dime = sdk.v1.prices.create(
        params={"product": catalogue.product.id, "unit_amount": 10, "currency": "usd"}
    )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.checkout.sessions.create(
            params={"mode": "payment", "line_items": [{"price": dime.id, "quantity": 1}]}
        )
    assert refused.value.code == "amount_too_small"
    coupon = sdk.v1.coupons.create(
        params={"amount_off": 950, "currency": "usd", "duration": "once"}
    )
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [{"price": catalogue.pack.id, "quantity": 1}],
                "discounts": [{"coupon": coupon.id}],
            }
        )


def test_an_invoice_below_the_minimum_is_not_charged_and_carried_to_the_balance(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    customer = sdk.v1.subscriptions.retrieve(sub_id).customer
    sdk.v1.customers.update(customer, params={"balance": -1980})
    emulator.advance(days=29)
    small = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    assert (small.total, small.starting_balance) == (2000, -1980)
    assert (small.amount_due, small.amount_paid, small.status) == (0, 0, "paid")
    assert small.ending_balance == 20
    assert sdk.v1.invoice_payments.list(params={"invoice": small.id}).data == []
    assert sdk.v1.customers.retrieve(customer).balance == 20
    emulator.advance(days=31)
    owed = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    assert (owed.starting_balance, owed.amount_due, owed.amount_paid) == (20, 2020, 2020)
    assert sdk.v1.customers.retrieve(customer).balance == 0
    assert events_of(emulator, "invoice_payment.paid")[-1]["data"]["object"]["invoice"] == owed.id
