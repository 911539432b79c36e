"""Currencies are one spelling (Stripe's lower case), real, accepted by Stripe, and charged
at least Stripe's minimum; zero-decimal currencies show without decimals everywhere.

Before, ``Price.objects.create(currency="EUR")`` made ``plans/`` list "EUR",
checkout answer "Monthly is not sold in EUR (available: EUR, usd)", every
``sync_stripe_products`` run replace the Stripe price, and the admin
accepted ``xxq``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from babel.numbers import is_currency
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse

from fiko_billing.models import Plan, Price
from fiko_billing.money import ISO_4217, MINIMUM_CHARGE, currency_problem, format_amount
from fiko_billing.services.catalog_sync import sync_catalogue
from fiko_billing.testing import payloads
from tests.factories import (
    PackagePriceFactory,
    PaymentFactory,
    PlanFactory,
    PlanPriceFactory,
    SubscriberFactory,
    TokenPackageFactory,
)
from tests.resolvers import bearer_client
from tests.stripe_stub import Recorded
from tests.test_catalog_sync import FakeStripe
from tests.test_openapi import documented

pytestmark = pytest.mark.django_db


def test_an_upper_case_currency_is_stored_lower_case() -> None:
    plan = PlanFactory()
    price = Price.objects.create(plan=plan, currency="EUR", unit_amount=900)
    assert price.currency == "eur"
    assert Price.objects.filter(pk=price.pk).values_list("currency", flat=True).get() == "eur"
    assert Price.objects.filter(currency="EUR").get() == price  # and found in any case


def test_clean_normalises_too() -> None:
    price = Price(plan=PlanFactory(), currency=" Usd ", unit_amount=900)
    price.full_clean()
    assert price.currency == "usd"


def test_the_database_refuses_an_upper_case_currency_written_around_the_model() -> None:
    price = PlanPriceFactory(currency="usd")
    Price.objects.filter(pk=price.pk).update(currency="USD")  # the field lower-cases this too
    assert Price.objects.get().currency == "usd"
    table = Price._meta.db_table
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET currency = %s WHERE id = %s", ["USD", price.pk])  # noqa: S608


def test_plans_and_checkout_speak_lower_case(settings: Any, stripe_stub: Any) -> None:
    plan = PlanFactory(name="Monthly")
    Price.objects.create(plan=plan, currency="EUR", unit_amount=900, stripe_price_id="price_eur")
    client = bearer_client(Client(), settings, SubscriberFactory())
    body = documented(client.get("/billing/plans/"))
    assert [p["currency"] for p in body["plans"][0]["prices"]] == ["eur"]
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id="cus_1"))
    stripe_stub.on(
        "POST",
        "/v1/checkout/sessions",
        payloads.checkout_session(id="cs_test_1", customer="cus_1", currency="eur"),
    )
    response = client.post(
        "/billing/stripe/checkout-session/",
        data=json.dumps({"plan_type": "full", "plan_id": plan.pk, "currency": "EUR"}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert stripe_stub.calls("POST", "/v1/checkout/sessions")


class LowerCasingStripe(FakeStripe):
    """Stripe answers every price in lower case, whatever case it was created with."""

    def create_price(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        status, price = super().create_price(request)
        price["currency"] = str(price["currency"]).lower()
        return status, price


def test_a_sync_of_an_upper_case_price_does_not_replace_it_every_run(stripe_stub: Any) -> None:
    LowerCasingStripe(stripe_stub)
    plan = PlanFactory(name="Pro")
    Price.objects.create(plan=plan, currency="EUR", unit_amount=1400)
    sync_catalogue(dry_run=False)
    first = Price.objects.get().stripe_price_id
    created = len(stripe_stub.calls("POST", "/v1/prices"))
    sync_catalogue(dry_run=False)
    assert Price.objects.get().stripe_price_id == first
    assert len(stripe_stub.calls("POST", "/v1/prices")) == created


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("xxq", "XXQ is not an ISO 4217 currency code"),
        ("XXQ", "XXQ is not an ISO 4217 currency code"),
        ("xts", "Stripe does not charge in XTS (Testing Currency Code)"),
        ("dem", "Stripe does not charge in DEM (German Mark)"),
        ("us", "'us' is not a three-letter ISO 4217 currency code"),
        ("usdd", "'usdd' is not a three-letter ISO 4217 currency code"),
        ("u$d", "U$D is not an ISO 4217 currency code"),
        ("ü12", "'ü12' is not a three-letter ISO 4217 currency code"),
    ],
)
def test_a_currency_must_be_iso_4217_and_one_stripe_accepts(code: str, problem: str) -> None:
    assert currency_problem(code) == problem
    price = Price(plan=PlanFactory(), currency=code, unit_amount=900)
    with pytest.raises(ValidationError) as raised:
        price.full_clean()
    assert problem in str(raised.value.message_dict["currency"])


def test_stripes_currencies_are_all_iso_4217() -> None:
    assert all(is_currency(code.upper()) for code in ISO_4217)
    assert set(MINIMUM_CHARGE) <= ISO_4217


def test_the_admin_refuses_an_unknown_currency_and_lower_cases_a_known_one(
    admin_client: Any,
) -> None:
    def add(currency: str) -> Any:
        return admin_client.post(
            reverse("admin:fiko_billing_plan_add"),
            {
                "name": f"Plan {currency}",
                "interval": "month",
                "tokens": "0",
                "sort_order": "0",
                "prices-TOTAL_FORMS": "1",
                "prices-INITIAL_FORMS": "0",
                "prices-MIN_NUM_FORMS": "0",
                "prices-MAX_NUM_FORMS": "1000",
                "prices-0-currency": currency,
                "prices-0-unit_amount": "900",
                "prices-0-active": "on",
            },
        )

    refused = add("xxq")
    assert refused.status_code == 200
    errors = refused.context["inline_admin_formsets"][0].formset.errors[0]["currency"]
    assert errors == [
        "XXQ is not an ISO 4217 currency code. Use a three-letter code Stripe accepts, "
        "such as 'usd' or 'eur'."
    ]
    assert add("EUR").status_code == 302
    assert Price.objects.get().currency == "eur"


# ---------------------------------------------------------------------- minimum charge


@pytest.mark.parametrize(
    ("currency", "amount", "valid"),
    [
        ("usd", 49, False),
        ("usd", 50, True),
        ("gbp", 29, False),
        ("gbp", 30, True),
        ("jpy", 49, False),
        ("jpy", 50, True),
        ("huf", 17_499, False),
        ("eur", 0, False),
        ("krw", 1, True),  # not in Stripe's table: Stripe converts to the settlement currency
    ],
)
def test_a_package_price_reaches_stripes_minimum_charge(
    currency: str, amount: int, valid: bool
) -> None:
    price = Price(package=TokenPackageFactory(), currency=currency, unit_amount=amount)
    if valid:
        price.full_clean()
        return
    with pytest.raises(ValidationError) as raised:
        price.full_clean()
    assert raised.value.message_dict["unit_amount"][0].startswith("Stripe charges at least ")


def test_a_plan_may_be_free_but_not_below_the_minimum() -> None:
    Price(plan=PlanFactory(), currency="usd", unit_amount=0).full_clean()
    with pytest.raises(ValidationError) as raised:
        Price(plan=PlanFactory(), currency="usd", unit_amount=1).full_clean()
    assert raised.value.message_dict["unit_amount"] == [
        "Stripe charges at least $0.50 in USD; $0.01 is below that."
    ]
    with pytest.raises(ValidationError) as raised:
        Price(plan=PlanFactory(), currency="jpy", unit_amount=10).full_clean()
    assert raised.value.message_dict["unit_amount"] == [
        "Stripe charges at least ¥50 in JPY; ¥10 is below that."
    ]


# ---------------------------------------------------------------------- zero-decimal display


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (500, "jpy", "¥500"),
        (5000, "krw", "₩5,000"),
        (1234, "vnd", "1,234 VND"),
        (500, "JPY", "¥500"),
    ],
)
def test_zero_decimal_amounts_show_without_decimals(
    amount: int, currency: str, shown: str
) -> None:
    assert format_amount(amount, currency) == shown


def test_zero_decimal_prices_and_payments_through_the_api_and_the_admin(
    settings: Any, admin_client: Any
) -> None:
    plan = PlanFactory(name="Tokyo")
    PlanPriceFactory(plan=plan, currency="JPY", unit_amount=500)
    package = TokenPackageFactory(name="Seoul")
    PackagePriceFactory(package=package, currency="krw", unit_amount=5000)
    client = bearer_client(Client(), settings, SubscriberFactory())
    PaymentFactory(subscriber=client.subscriber, amount=5000, currency="krw")
    plans = documented(client.get("/billing/plans/"))
    assert plans["plans"][0]["prices"][0]["display"] == "¥500"
    assert plans["token_packages"][0]["prices"][0]["display"] == "₩5,000"
    payments = documented(client.get("/billing/payments/"))
    assert payments["results"][0]["display"] == "₩5,000"
    listing = admin_client.get(reverse("admin:fiko_billing_plan_changelist")).content.decode()
    assert "¥500" in listing
    assert "¥5.00" not in listing
    assert Plan.objects.get().prices.get().display == "¥500"
