"""Each place where the emulator once departed from Stripe on money, guarded.

One test per departure; each fails if the old behaviour comes back.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import SECRET, Catalogue
from tests.emulator.helpers import Receiver, events_of, subscribe


def test_1_invoice_payments_and_confirmation_secret_only_when_expanded(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator, receiver: Receiver
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    emulator.advance(days=29)
    emulator.flush()
    delivered = [json.loads(body) for body in receiver.bodies()]
    invoices = [
        e["data"]["object"] for e in delivered if e["data"]["object"]["object"] == "invoice"
    ]
    assert len(invoices) >= 10  # created, finalized, updated, paid... of two invoices
    assert [i for i in invoices if "payments" in i or "confirmation_secret" in i] == []
    invoice_id = sdk.v1.subscriptions.retrieve(sub_id).latest_invoice
    plain = sdk.v1.invoices.retrieve(invoice_id).to_dict()
    assert "payments" not in plain
    assert "confirmation_secret" not in plain
    expanded = sdk.v1.invoices.retrieve(
        invoice_id, params={"expand": ["payments", "confirmation_secret"]}
    )
    assert len(expanded.payments.data) == 1
    assert expanded.confirmation_secret.type == "payment_intent"


def test_2_invoice_lines_in_stripes_order(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    item = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    emulator.advance(days=14)
    sdk.v1.subscriptions.update(
        sub_id,
        params={
            "items": [{"id": item.id, "price": catalogue.premium.id}],
            "proration_behavior": "create_prorations",
        },
    )
    emulator.advance(days=15)
    renewal = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    assert renewal.billing_reason == "subscription_cycle"
    kinds = [
        (line.parent.type, line.parent.subscription_item_details.proration, line.description)
        for line in renewal.lines.data
    ]
    # Pending items (prorations), newest first, then the subscription item.
    assert [k[:2] for k in kinds] == [
        ("subscription_item_details", True),
        ("subscription_item_details", True),
        ("subscription_item_details", False),
    ]
    assert kinds[0][2].startswith("Remaining time on")
    assert kinds[1][2].startswith("Unused time on")


def test_3_a_once_coupon_applies_to_one_invoice_only(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    coupon = sdk.v1.coupons.create(params={"percent_off": 20, "duration": "once"})
    sub_id = subscribe(sdk, catalogue.monthly.id, discounts=[{"coupon": coupon.id}])
    first = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    assert (first.subtotal, first.total) == (2000, 1600)
    item = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    emulator.advance(days=7)
    # Monthly -> yearly: a new cycle, invoiced at once, with the subscription's line.
    switched = sdk.v1.subscriptions.update(
        sub_id, params={"items": [{"id": item.id, "price": catalogue.yearly.id}]}
    )
    invoice = sdk.v1.invoices.retrieve(switched.latest_invoice)
    assert invoice.billing_reason == "subscription_update"
    assert invoice.total_discount_amounts == []
    assert invoice.discounts == []
    assert all(line.discount_amounts == [] for line in invoice.lines.data)
    # Flexible billing mode credits what was paid for the unused 21 of 28 days.
    assert [line.amount for line in invoice.lines.data] == [-1200, 20000]
    assert invoice.total == invoice.subtotal == 18800


def test_4_an_unknown_secret_key_is_refused(emulator: Emulator) -> None:
    stranger = stripe.StripeClient(
        "sk_test_51WellFormedButUnknown",
        base_addresses={"api": emulator.url},
        max_network_retries=0,
    )
    with pytest.raises(stripe.AuthenticationError) as refused:
        stranger.v1.customers.list()
    assert refused.value.http_status == 401


def test_5_unknown_currencies_and_amounts_below_the_minimum_are_refused(
    sdk: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as currency:
        sdk.v1.payment_intents.create(params={"amount": 500, "currency": "xxq"})
    assert currency.value.param == "currency"
    with pytest.raises(stripe.InvalidRequestError) as dime:
        sdk.v1.payment_intents.create(params={"amount": 10, "currency": "usd"})
    assert (dime.value.code, dime.value.param) == ("amount_too_small", "amount")
    with pytest.raises(stripe.InvalidRequestError) as yen:
        sdk.v1.payment_intents.create(params={"amount": 49, "currency": "jpy"})
    assert yen.value.code == "amount_too_small"


def test_6_stripes_timing_retries_and_update_events(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    hour, day = 3600, 86_400
    sub_id = subscribe(sdk, catalogue.monthly.id)
    end = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0].current_period_end
    emulator.advance(seconds=end - emulator.now())
    renewal = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    # A renewal is a draft for an hour after invoice.created, then charged.
    assert (renewal.status, renewal.automatically_finalizes_at) == ("draft", end + hour)
    emulator.advance(seconds=hour)
    assert sdk.v1.invoices.retrieve(renewal.id).status == "paid"
    types = emulator.event_types()
    assert "invoice_payment.paid" in types[types.index("invoice.finalized", -12) :]
    assert types.index("charge.updated", -12) == types.index("charge.succeeded", -12) + 1
    pi_id = events_of(emulator, "invoice_payment.paid")[-1]["data"]["object"]["payment"][
        "payment_intent"
    ]
    sdk.v1.refunds.create(params={"payment_intent": pi_id, "amount": 100})
    assert emulator.event_types()[-2:] == ["refund.updated", "charge.refund.updated"]

    # Smart Retries: a failed renewal is tried 8 times within 2 weeks.
    failing = subscribe(sdk, catalogue.monthly.id, card="4000 0000 0000 0341")
    end = sdk.v1.subscriptions.retrieve(failing)["items"].data[0].current_period_end
    emulator.advance(seconds=end - emulator.now() + hour + 13 * day)
    invoice = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(failing).latest_invoice)
    assert (invoice.attempt_count, sdk.v1.subscriptions.retrieve(failing).status) == (
        7,
        "past_due",
    )
    emulator.advance(days=1)
    assert sdk.v1.invoices.retrieve(invoice.id).attempt_count == 8
    assert sdk.v1.subscriptions.retrieve(failing).status == "canceled"


def _types(receiver: Receiver) -> list[str]:
    return [json.loads(body)["type"] for body in receiver.bodies()]


def _ids(receiver: Receiver) -> Counter[str]:
    return Counter(json.loads(body)["id"] for body in receiver.bodies())


def _verified(receiver: Receiver, secret: str) -> list[stripe.Event]:
    return [
        stripe.Webhook.construct_event(r.body.decode(), r.headers["stripe-signature"], secret)
        for r in receiver.received
    ]


def test_7_an_endpoint_for_the_forwarding_url_gets_each_event_once(
    sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    endpoint = sdk.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["customer.created", "customer.updated"]}
    )
    customer = sdk.v1.customers.create(params={"name": "a"})
    sdk.v1.customers.update(customer.id, params={"name": "b"})
    sdk.v1.products.create(params={"name": "not enabled"})
    emulator.flush()
    # Once each, and only what the endpoint enables.
    assert _types(receiver) == ["customer.created", "customer.updated"]
    assert set(_ids(receiver).values()) == {1}
    # Signed with both: the forwarding secret the project has, and the endpoint's own.
    assert len(_verified(receiver, SECRET)) == 2
    assert len(_verified(receiver, endpoint.secret)) == 2

    sdk.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    sdk.v1.customers.update(customer.id, params={"name": "c"})
    emulator.flush()
    assert len(receiver.bodies()) == 2

    sdk.v1.webhook_endpoints.delete(endpoint.id)
    sdk.v1.products.create(params={"name": "forwarded again"})
    emulator.flush()
    assert _types(receiver)[-1] == "product.created"
    assert set(_ids(receiver).values()) == {1}
