"""``expand[]`` along the relations the package reads."""

from __future__ import annotations

import pytest
import stripe

from tests.emulator.conftest import Catalogue
from tests.emulator.helpers import pay


def _subscribed(sdk: stripe.StripeClient, catalogue: Catalogue) -> str:
    session = sdk.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": catalogue.monthly.id, "quantity": 1}],
            "success_url": "https://app.example/ok",
        }
    )
    pay(session.url)
    return session.id


def test_checkout_session_relations(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    session_id = _subscribed(sdk, catalogue)
    plain = sdk.v1.checkout.sessions.retrieve(session_id)
    assert isinstance(plain.subscription, str)
    assert "line_items" not in plain
    full = sdk.v1.checkout.sessions.retrieve(
        session_id, params={"expand": ["line_items", "subscription", "customer", "invoice"]}
    )
    assert full.subscription.id == plain.subscription
    assert full.subscription.object == "subscription"
    assert full.customer.object == "customer"
    assert full.invoice.object == "invoice"
    assert full.line_items.object == "list"
    assert full.line_items.data[0].price.id == catalogue.monthly.id


def test_payment_session_expands_its_payment_intent(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    session = sdk.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": catalogue.pack.id, "quantity": 1}]}
    )
    pay(session.url)
    done = sdk.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert done.payment_intent.object == "payment_intent"
    assert done.payment_intent.status == "succeeded"


def test_subscription_latest_invoice_and_item_products(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    session_id = _subscribed(sdk, catalogue)
    sub_id = sdk.v1.checkout.sessions.retrieve(session_id).subscription
    sub = sdk.v1.subscriptions.retrieve(
        sub_id, params={"expand": ["latest_invoice", "items.data.price.product"]}
    )
    assert sub.latest_invoice.object == "invoice"
    assert sub.latest_invoice.status == "paid"
    product = sub["items"].data[0].price.product
    assert (product.object, product.name) == ("product", "Pro plan")


def test_invoice_payment_intent_under_payments(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    session_id = _subscribed(sdk, catalogue)
    invoice_id = sdk.v1.checkout.sessions.retrieve(session_id).invoice
    invoice = sdk.v1.invoices.retrieve(
        invoice_id, params={"expand": ["payments.data.payment.payment_intent"]}
    )
    pi = invoice.payments.data[0].payment.payment_intent
    assert pi.object == "payment_intent"
    assert pi.status == "succeeded"
    assert pi.amount == invoice.amount_paid


def test_list_expansion_uses_data_prefix(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    _subscribed(sdk, catalogue)
    subs = sdk.v1.subscriptions.list(params={"expand": ["data.customer"]})
    assert subs.data[0].customer.object == "customer"


def test_charge_refunds_are_includable(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    session = sdk.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": catalogue.pack.id, "quantity": 1}]}
    )
    pay(session.url)
    pi_id = sdk.v1.checkout.sessions.retrieve(session.id).payment_intent
    refund = sdk.v1.refunds.create(params={"payment_intent": pi_id, "amount": 100})
    charge = sdk.v1.charges.retrieve(refund.charge, params={"expand": ["refunds"]})
    assert [r.id for r in charge.refunds.data] == [refund.id]


@pytest.mark.parametrize("path", ["currency", "nothing", "customer.nothing.deeper"])
def test_unexpandable_paths(sdk: stripe.StripeClient, catalogue: Catalogue, path: str) -> None:
    session_id = _subscribed(sdk, catalogue)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.checkout.sessions.retrieve(session_id, params={"expand": [path]})
    assert caught.value.param == "expand[0]"
    assert caught.value.user_message == f"This property cannot be expanded ({path})."


def test_null_relations_stay_null(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    session = sdk.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": catalogue.pack.id, "quantity": 1}]}
    )
    opened = sdk.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["customer", "subscription"]}
    )
    assert opened.customer is None
    assert opened.subscription is None
