"""Customers, products, prices, coupons and promotion codes through the real SDK."""

from __future__ import annotations

import pytest
import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import START, Catalogue
from tests.emulator.helpers import pay


def test_customer_lifecycle(sdk: stripe.StripeClient, emulator: Emulator) -> None:
    customer = sdk.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"user": "1", "team": "x"}}
    )
    assert customer.object == "customer"
    assert customer.created == START
    assert customer.livemode is False
    assert customer.invoice_settings.default_payment_method is None
    assert sdk.v1.customers.retrieve(customer.id).email == "ada@example.com"
    updated = sdk.v1.customers.update(
        customer.id, params={"name": "Ada L.", "metadata": {"team": "", "plan": "pro"}}
    )
    assert updated.name == "Ada L."
    assert updated.metadata.to_dict() == {"user": "1", "plan": "pro"}
    event = sdk.v1.events.list(params={"type": "customer.updated"}).data[0]
    assert event.data.previous_attributes.to_dict() == {
        "name": "Ada",
        "metadata": {"team": "x", "plan": None},
    }
    assert event.request.id is not None
    assert event.request.id.startswith("req_")
    other = sdk.v1.customers.create(params={"email": "grace@example.com"})
    by_email = sdk.v1.customers.list(params={"email": "grace@example.com"})
    assert [c.id for c in by_email.data] == [other.id]
    deleted = sdk.v1.customers.delete(customer.id)
    assert (deleted.id, deleted.deleted) == (customer.id, True)
    assert sdk.v1.customers.retrieve(customer.id).deleted is True
    assert [c.id for c in sdk.v1.customers.list().data] == [other.id]
    assert emulator.event_types()[-1] == "customer.deleted"


def test_deleting_a_customer_cancels_its_subscriptions(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    customer = sdk.v1.customers.create(params={"email": "c@example.com"})
    session = sdk.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": catalogue.monthly.id, "quantity": 1}],
        }
    )
    pay(session.url)
    sdk.v1.customers.delete(customer.id)
    assert emulator.event_types()[-2:] == ["customer.subscription.deleted", "customer.deleted"]
    sub = sdk.v1.subscriptions.list(params={"status": "canceled"}).data[0]
    assert sub.customer == customer.id


def test_products(sdk: stripe.StripeClient) -> None:
    first = sdk.v1.products.create(params={"name": "Basic", "metadata": {"sku": "b"}})
    second = sdk.v1.products.create(params={"name": "Gold", "id": "prod_gold"})
    assert second.id == "prod_gold"
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        sdk.v1.products.create(params={"name": "Gold", "id": "prod_gold"})
    assert duplicate.value.code == "resource_already_exists"
    archived = sdk.v1.products.update(first.id, params={"active": False, "name": "Basic (old)"})
    assert (archived.active, archived.name) == (False, "Basic (old)")
    assert sdk.v1.products.retrieve(first.id).active is False
    active = sdk.v1.products.list(params={"active": True})
    assert [p.id for p in active.data] == [second.id]
    chosen = sdk.v1.products.list(params={"ids": [first.id]})
    assert [p.id for p in chosen.data] == [first.id]


def test_prices_and_lookup_keys(sdk: stripe.StripeClient, emulator: Emulator) -> None:
    product = sdk.v1.products.create(params={"name": "Pro"})
    monthly = sdk.v1.prices.create(
        params={
            "product": product.id,
            "currency": "EUR",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
            "lookup_key": "pro",
        }
    )
    assert (monthly.type, monthly.currency, str(monthly.unit_amount_decimal)) == (
        "recurring",
        "eur",
        "1500",
    )
    assert (monthly.recurring.interval, monthly.recurring.interval_count) == ("month", 1)
    with pytest.raises(stripe.InvalidRequestError) as taken:
        sdk.v1.prices.create(
            params={
                "product": product.id,
                "currency": "eur",
                "unit_amount": 1800,
                "lookup_key": "pro",
            }
        )
    assert taken.value.param == "lookup_key"
    newer = sdk.v1.prices.create(
        params={
            "product": product.id,
            "currency": "eur",
            "unit_amount": 1800,
            "recurring": {"interval": "month"},
            "lookup_key": "pro",
            "transfer_lookup_key": True,
        }
    )
    assert sdk.v1.prices.retrieve(monthly.id).lookup_key is None
    found = sdk.v1.prices.list(params={"lookup_keys": ["pro"]})
    assert [p.id for p in found.data] == [newer.id]
    assert emulator.event_types()[-2:] == ["price.updated", "price.created"]
    one_time = sdk.v1.prices.create(
        params={"product_data": {"name": "Tokens"}, "currency": "eur", "unit_amount": 500}
    )
    assert one_time.type == "one_time"
    assert sdk.v1.products.retrieve(one_time.product).name == "Tokens"
    assert [p.id for p in sdk.v1.prices.list(params={"product": product.id}).data] == [
        newer.id,
        monthly.id,
    ]
    sdk.v1.prices.update(monthly.id, params={"active": False, "lookup_key": "pro_old"})
    assert [p.id for p in sdk.v1.prices.list(params={"active": False}).data] == [monthly.id]
    assert [p.id for p in sdk.v1.prices.list(params={"type": "one_time"}).data] == [one_time.id]


def test_price_amounts_are_immutable(sdk: stripe.StripeClient) -> None:
    price = sdk.v1.prices.create(
        params={"product_data": {"name": "X"}, "currency": "usd", "unit_amount": 100}
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.prices.update(price.id, params={"unit_amount": 200})
    assert (caught.value.code, caught.value.param) == ("parameter_unknown", "unit_amount")


def test_coupons(sdk: stripe.StripeClient) -> None:
    percent = sdk.v1.coupons.create(
        params={"percent_off": 20, "duration": "once", "id": "WELCOME"}
    )
    assert (percent.id, percent.percent_off, percent.duration, percent.name) == (
        "WELCOME",
        20,
        "once",
        "20% off",
    )
    fixed = sdk.v1.coupons.create(
        params={
            "amount_off": 500,
            "currency": "usd",
            "duration": "repeating",
            "duration_in_months": 3,
        }
    )
    assert (fixed.amount_off, fixed.duration_in_months, fixed.valid) == (500, 3, True)
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.coupons.create(params={"amount_off": 500})
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.coupons.create(params={"percent_off": 10, "amount_off": 1, "currency": "usd"})
    renamed = sdk.v1.coupons.update("WELCOME", params={"name": "Welcome"})
    assert renamed.name == "Welcome"
    assert [c.id for c in sdk.v1.coupons.list().data] == [fixed.id, "WELCOME"]
    assert sdk.v1.coupons.delete(fixed.id).deleted is True
    assert [c.id for c in sdk.v1.coupons.list().data] == ["WELCOME"]


def test_promotion_codes_use_the_endive_shape(sdk: stripe.StripeClient) -> None:
    coupon = sdk.v1.coupons.create(params={"percent_off": 10})
    promo = sdk.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "code": "TEN",
            "max_redemptions": 5,
        }
    )
    assert promo.id.startswith("promo_")
    assert promo.promotion.to_dict() == {"coupon": coupon.id, "type": "coupon"}
    assert "coupon" not in promo
    assert (promo.code, promo.active, promo.max_redemptions) == ("TEN", True, 5)
    with pytest.raises(stripe.InvalidRequestError) as legacy:
        sdk.v1.promotion_codes.create(params={"coupon": coupon.id})
    assert (legacy.value.code, legacy.value.param) == ("parameter_unknown", "coupon")
    with pytest.raises(stripe.InvalidRequestError) as twice:
        sdk.v1.promotion_codes.create(
            params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "ten"}
        )
    assert twice.value.code == "resource_already_exists"
    generated = sdk.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}}
    )
    assert len(generated.code) == 8
    assert [p.id for p in sdk.v1.promotion_codes.list(params={"code": "TEN"}).data] == [promo.id]
    off = sdk.v1.promotion_codes.update(promo.id, params={"active": False})
    assert off.active is False
    assert [p.id for p in sdk.v1.promotion_codes.list(params={"active": True}).data] == [
        generated.id
    ]
    expanded = sdk.v1.promotion_codes.retrieve(promo.id, params={"expand": ["promotion.coupon"]})
    assert expanded.promotion.coupon.percent_off == 10
