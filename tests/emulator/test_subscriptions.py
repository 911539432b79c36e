"""Subscriptions through the API: update, switch price, cancel, and their invoices."""

from __future__ import annotations

import pytest
import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import START, Catalogue
from tests.emulator.helpers import pay, raw_api


def _subscription(
    sdk: stripe.StripeClient, catalogue: Catalogue, price_id: str | None = None
) -> str:
    session = sdk.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": price_id or catalogue.monthly.id, "quantity": 1}],
        }
    )
    pay(session.url)
    sub_id = sdk.v1.checkout.sessions.retrieve(session.id).subscription
    assert isinstance(sub_id, str)
    return sub_id


def test_subscription_cancel_at_period_end_and_back(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = _subscription(sdk, catalogue)
    emulator.advance(seconds=3600)
    scheduled = sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    assert scheduled.cancel_at_period_end is True
    assert scheduled.status == "active"
    assert scheduled.canceled_at == START + 3600
    assert scheduled.cancel_at == scheduled["items"].data[0].current_period_end
    assert scheduled.cancellation_details.reason == "cancellation_requested"
    event = sdk.v1.events.list(params={"limit": 1}).data[0]
    assert event.type == "customer.subscription.updated"
    assert event.data.previous_attributes.to_dict() == {
        "cancel_at_period_end": False,
        "cancel_at": None,
        "canceled_at": None,
        "cancellation_details": {"reason": None},
    }
    resumed = sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    assert (resumed.cancel_at_period_end, resumed.cancel_at, resumed.canceled_at) == (
        False,
        None,
        None,
    )


def test_subscription_metadata_and_listing(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    sub_id = _subscription(sdk, catalogue)
    updated = sdk.v1.subscriptions.update(sub_id, params={"metadata": {"seats": "3"}})
    assert updated.metadata.to_dict() == {"seats": "3"}
    customer = updated.customer
    assert [s.id for s in sdk.v1.subscriptions.list(params={"customer": customer}).data] == [
        sub_id
    ]
    assert sdk.v1.subscriptions.list(params={"status": "canceled"}).data == []
    assert [
        s.id for s in sdk.v1.subscriptions.list(params={"price": catalogue.monthly.id}).data
    ] == [sub_id]


def test_subscription_price_swap_creates_prorations(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = _subscription(sdk, catalogue)
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    item = sub["items"].data[0]
    period = item.current_period_end - item.current_period_start
    emulator.advance(seconds=period // 2)
    since = len(emulator.event_types())
    swapped = sdk.v1.subscriptions.update(
        sub_id,
        params={
            "items": [{"id": item.id, "price": catalogue.premium.id}],
            "proration_behavior": "create_prorations",
        },
    )
    new_item = swapped["items"].data[0]
    assert (new_item.id, new_item.price.id) == (item.id, catalogue.premium.id)
    assert new_item.current_period_end == item.current_period_end
    assert emulator.event_types()[since:] == [
        "customer.subscription.updated",
        "invoiceitem.created",
        "invoiceitem.created",
    ]
    updated = sdk.v1.events.list(
        params={"type": "customer.subscription.updated", "limit": 1}
    ).data[0]
    assert (
        updated.data.previous_attributes["items"]["data"][0]["price"]["id"] == catalogue.monthly.id
    )
    credit, charge = emulator.objects("invoiceitem")[::-1]
    assert credit["amount"] == -1000
    assert charge["amount"] == 2500
    assert (credit["proration"], credit["invoice"]) == (True, None)


def test_subscription_price_swap_always_invoice(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = _subscription(sdk, catalogue)
    item = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    emulator.advance(seconds=(item.current_period_end - item.current_period_start) // 2)
    swapped = sdk.v1.subscriptions.update(
        sub_id,
        params={
            "items": [{"id": item.id, "price": catalogue.premium.id}],
            "proration_behavior": "always_invoice",
        },
        options={"idempotency_key": "swap-1"},
    )
    invoice = sdk.v1.invoices.retrieve(swapped.latest_invoice)
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == (
        "subscription_update",
        "paid",
        1500,
    )
    assert [line.amount for line in invoice.lines.data] == [2500, -1000]
    assert all(
        line.parent.type == "subscription_item_details"
        and line.parent.subscription_item_details.proration
        for line in invoice.lines.data
    )
    finalized = sdk.v1.events.list(params={"type": "invoice.finalized", "limit": 1}).data[0]
    assert finalized.request.idempotency_key == "swap-1"


def test_subscription_cancel_now(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = _subscription(sdk, catalogue)
    canceled = sdk.v1.subscriptions.cancel(
        sub_id, params={"cancellation_details": {"feedback": "too_expensive"}}
    )
    assert (canceled.status, canceled.ended_at, canceled.canceled_at) == ("canceled", START, START)
    assert canceled.cancellation_details.to_dict() == {
        "comment": None,
        "feedback": "too_expensive",
        "reason": "cancellation_requested",
    }
    assert emulator.event_types()[-1] == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.subscriptions.cancel(sub_id)
    assert sdk.v1.subscriptions.list().data == []


def test_subscription_update_rejects_removed_parameters(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    sub_id = _subscription(sdk, catalogue)
    with pytest.raises(stripe.InvalidRequestError) as coupon:
        sdk.v1.subscriptions.update(sub_id, params={"coupon": "X"})
    assert coupon.value.code == "parameter_unknown"


def test_string_billing_cycle_anchor_is_rejected(
    emulator: Emulator, sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    sub_id = _subscription(sdk, catalogue)
    raw = raw_api(emulator.url, "POST", f"/v1/subscriptions/{sub_id}", "billing_cycle_anchor=now")
    assert raw.status == 400
    assert raw.json()["error"]["param"] == "billing_cycle_anchor"


def test_invoices_and_payment_methods_lists(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    sub_id = _subscription(sdk, catalogue)
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    invoices = sdk.v1.invoices.list(params={"subscription": sub_id})
    assert [i.id for i in invoices.data] == [sub.latest_invoice]
    assert sdk.v1.invoices.list(params={"status": "open"}).data == []
    lines = sdk.v1.invoices.line_items.list(sub.latest_invoice)
    assert lines.data[0].amount == 2000
    payments = sdk.v1.invoice_payments.list(params={"invoice": sub.latest_invoice})
    assert payments.data[0].status == "paid"
    methods = sdk.v1.payment_methods.list(params={"customer": sub.customer, "type": "card"})
    assert [m.id for m in methods.data] == [sub.default_payment_method]
    assert methods.data[0].card.last4 == "4242"


def test_one_update_request_is_one_event(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = _subscription(sdk, catalogue)
    since = len(emulator.event_types())
    sdk.v1.subscriptions.update(
        sub_id,
        params={
            "metadata": {"seats": "2"},
            "cancel_at_period_end": True,
            "cancellation_details": {"comment": "moving"},
        },
    )
    assert emulator.event_types()[since:] == ["customer.subscription.updated"]
    event = sdk.v1.events.list(params={"limit": 1}).data[0]
    assert event.data.previous_attributes.metadata.to_dict() == {"seats": None}
    assert event.data.object.cancellation_details.comment == "moving"


def test_rejected_update_changes_nothing(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = _subscription(sdk, catalogue)
    item = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    since = len(emulator.event_types())
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.subscriptions.update(
            sub_id,
            params={
                "metadata": {"x": "1"},
                "items": [{"id": item.id, "price": catalogue.pack.id}],
            },
        )
    assert caught.value.param == "items[0][price]"
    assert sdk.v1.subscriptions.retrieve(sub_id).metadata.to_dict() == {}
    assert emulator.event_types()[since:] == []


def test_dated_cancel_at_and_clearing_it(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = _subscription(sdk, catalogue)
    dated = sdk.v1.subscriptions.update(sub_id, params={"cancel_at": START + 10 * 86_400})
    assert (dated.cancel_at, dated.cancel_at_period_end, dated.canceled_at) == (
        START + 10 * 86_400,
        False,
        START,
    )
    cleared = sdk.v1.subscriptions.update(sub_id, params={"cancel_at": ""})
    assert (cleared.cancel_at, cleared.canceled_at) == (None, None)
    sdk.v1.subscriptions.update(sub_id, params={"cancel_at": START + 10 * 86_400})
    emulator.advance(days=10)
    ended = sdk.v1.subscriptions.retrieve(sub_id)
    assert (ended.status, ended.ended_at) == ("canceled", START + 10 * 86_400)
    with pytest.raises(stripe.InvalidRequestError) as past:
        sdk.v1.subscriptions.update(_subscription(sdk, catalogue), params={"cancel_at": START})
    assert past.value.param == "cancel_at"
