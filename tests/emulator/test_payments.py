"""Refunds, charges, events, webhook endpoints and portal sessions through the real SDK."""

from __future__ import annotations

import pytest
import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import START, Catalogue
from tests.emulator.helpers import get_page, pay


def _paid_payment(sdk: stripe.StripeClient, catalogue: Catalogue) -> str:
    session = sdk.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": catalogue.pack.id, "quantity": 2}]}
    )
    pay(session.url)
    pi_id = sdk.v1.checkout.sessions.retrieve(session.id).payment_intent
    assert isinstance(pi_id, str)
    return pi_id


def test_partial_then_full_refund(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    pi_id = _paid_payment(sdk, catalogue)
    since = len(emulator.event_types())
    first = sdk.v1.refunds.create(
        params={"payment_intent": pi_id, "amount": 500, "reason": "requested_by_customer"}
    )
    assert (first.amount, first.status, first.payment_intent, first.reason) == (
        500,
        "succeeded",
        pi_id,
        "requested_by_customer",
    )
    charge = sdk.v1.charges.retrieve(first.charge)
    assert (charge.amount_refunded, charge.refunded) == (500, False)
    receipt = get_page(charge.receipt_url)
    assert receipt.status == 200
    assert (
        "19.80 USD paid on 31 Jan 2026 with Visa ending in 4242. Refunded: 5.00 USD."
        in receipt.body
    )
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        sdk.v1.refunds.create(params={"charge": charge.id, "amount": 1481})
    assert too_much.value.param == "amount"
    assert too_much.value.user_message == (
        "Refund amount (14.81 USD) is greater than unrefunded amount on charge (14.80 USD)"
    )
    rest = sdk.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 1480
    charge = sdk.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (1980, True)
    with pytest.raises(stripe.InvalidRequestError) as again:
        sdk.v1.refunds.create(params={"payment_intent": pi_id})
    assert again.value.code == "charge_already_refunded"
    assert (
        emulator.event_types()[since:]
        == ["refund.created", "charge.refunded", "refund.updated", "charge.refund.updated"] * 2
    )
    refunded = sdk.v1.events.list(params={"type": "charge.refunded", "limit": 1}).data[0]
    assert refunded.data.previous_attributes.to_dict() == {
        "amount_refunded": 500,
        "refunded": False,
    }
    assert [r.id for r in sdk.v1.refunds.list(params={"payment_intent": pi_id}).data] == [
        rest.id,
        first.id,
    ]
    assert sdk.v1.refunds.retrieve(first.id).amount == 500


def test_refund_needs_a_target(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.refunds.create(params={})
    assert caught.value.code == "parameter_missing"


def test_charges_and_payment_intents_lists(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    pi_id = _paid_payment(sdk, catalogue)
    charges = sdk.v1.charges.list(params={"payment_intent": pi_id})
    assert len(charges.data) == 1
    assert charges.data[0].amount == 1980
    assert [pi.id for pi in sdk.v1.payment_intents.list().data] == [pi_id]


def test_events_filters(sdk: stripe.StripeClient, emulator: Emulator) -> None:
    sdk.v1.customers.create(params={"name": "a"})
    product = sdk.v1.products.create(params={"name": "p"})
    emulator.advance(seconds=60)
    sdk.v1.products.update(product.id, params={"name": "q"})
    all_events = sdk.v1.events.list()
    assert [e.type for e in all_events.data] == [
        "product.updated",
        "product.created",
        "customer.created",
    ]
    assert [e.type for e in sdk.v1.events.list(params={"type": "product.*"}).data] == [
        "product.updated",
        "product.created",
    ]
    assert [
        e.type
        for e in sdk.v1.events.list(params={"types": ["customer.created", "product.updated"]}).data
    ] == [
        "product.updated",
        "customer.created",
    ]
    later = sdk.v1.events.list(params={"created": {"gte": START + 60}})
    assert [e.type for e in later.data] == ["product.updated"]
    assert [e.type for e in sdk.v1.events.list(params={"created": {"lt": START + 60}}).data] == [
        "product.created",
        "customer.created",
    ]
    event = sdk.v1.events.retrieve(all_events.data[0].id)
    assert event.created == START + 60
    assert event.data.object.name == "q"
    assert event.data.previous_attributes.to_dict() == {"name": "p", "updated": START}
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.events.list(params={"type": "a.b", "types": ["c.d"]})


def test_webhook_endpoints(sdk: stripe.StripeClient) -> None:
    endpoint = sdk.v1.webhook_endpoints.create(
        params={
            "url": "https://app.example/billing/stripe/webhook/",
            "enabled_events": ["checkout.session.completed", "invoice.paid"],
            "api_version": "2026-10-28.endive",
        }
    )
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.api_version == "2026-10-28.endive"
    assert endpoint.status == "enabled"
    fetched = sdk.v1.webhook_endpoints.retrieve(endpoint.id)
    assert "secret" not in fetched
    updated = sdk.v1.webhook_endpoints.update(
        endpoint.id, params={"enabled_events": ["*"], "disabled": True}
    )
    assert (updated.enabled_events, updated.status) == (["*"], "disabled")
    assert [e.id for e in sdk.v1.webhook_endpoints.list().data] == [endpoint.id]
    assert sdk.v1.webhook_endpoints.delete(endpoint.id).deleted is True
    assert sdk.v1.webhook_endpoints.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as missing:
        sdk.v1.webhook_endpoints.create(params={"url": "https://x.example/"})
    assert missing.value.param == "enabled_events"


def test_portal_session(sdk: stripe.StripeClient, emulator: Emulator) -> None:
    customer = sdk.v1.customers.create(params={"email": "p@example.com"})
    session = sdk.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "https://app.example/account"}
    )
    assert session.id.startswith("bps_")
    assert session.url == f"{emulator.url}/portal/{session.id}"
    assert session.return_url == "https://app.example/account"
    assert session.customer == customer.id
    assert emulator.event_types()[-1] == "billing_portal.session.created"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.billing_portal.sessions.create(params={"customer": "cus_nobody"})
    assert (caught.value.http_status, caught.value.param) == (400, "customer")
