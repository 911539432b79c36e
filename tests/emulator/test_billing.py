"""Invoice amounts over time: coupons by duration, prorations, credit balance, intervals."""

from __future__ import annotations

import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import START, Catalogue
from tests.emulator.helpers import pay

DAY = 86_400
HOUR = 3600  # a renewal invoice is charged an hour after it is created
FEB_28 = 1_772_272_800


def _subscribe(sdk: stripe.StripeClient, price_id: str, quantity: int = 1, **extra: object) -> str:
    session = sdk.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": price_id, "quantity": quantity}],
            **extra,
        }
    )
    pay(session.url)
    sub_id = sdk.v1.checkout.sessions.retrieve(session.id).subscription
    assert isinstance(sub_id, str)
    return sub_id


def _latest(sdk: stripe.StripeClient, sub_id: str) -> stripe.Invoice:
    return sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)


def test_quantity_multiplies_the_line(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    sub_id = _subscribe(sdk, catalogue.monthly.id, quantity=3)
    invoice = _latest(sdk, sub_id)
    assert (invoice.lines.data[0].quantity, invoice.lines.data[0].amount, invoice.amount_paid) == (
        3,
        6000,
        6000,
    )
    assert invoice.lines.data[0].description == "3 × Pro plan (at 20.00 USD / month)"  # noqa: RUF001


def test_once_coupon_applies_to_the_first_invoice_only(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    coupon = sdk.v1.coupons.create(params={"percent_off": 25, "duration": "once"})
    sub_id = _subscribe(sdk, catalogue.monthly.id, discounts=[{"coupon": coupon.id}])
    assert _latest(sdk, sub_id).amount_paid == 1500
    emulator.advance(days=28, seconds=HOUR)
    renewal = _latest(sdk, sub_id)
    assert (renewal.billing_reason, renewal.amount_paid, renewal.discounts) == (
        "subscription_cycle",
        2000,
        [],
    )
    assert sdk.v1.subscriptions.retrieve(sub_id).discounts == []
    moved = sdk.v1.events.list(params={"type": "customer.subscription.updated", "limit": 1}).data[
        0
    ]
    assert len(moved.data.previous_attributes["discounts"]) == 1


def test_forever_coupon_applies_to_every_invoice(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    coupon = sdk.v1.coupons.create(
        params={"amount_off": 500, "currency": "usd", "duration": "forever"}
    )
    sub_id = _subscribe(sdk, catalogue.monthly.id, discounts=[{"coupon": coupon.id}])
    emulator.advance(days=28, seconds=HOUR)
    renewal = _latest(sdk, sub_id)
    assert (renewal.subtotal, renewal.total, renewal.amount_paid) == (2000, 1500, 1500)
    assert renewal.lines.data[0].discount_amounts[0].amount == 500


def test_repeating_coupon_ends_after_its_months(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    coupon = sdk.v1.coupons.create(
        params={"percent_off": 50, "duration": "repeating", "duration_in_months": 2}
    )
    sub_id = _subscribe(sdk, catalogue.monthly.id, discounts=[{"coupon": coupon.id}])
    emulator.advance(days=28, seconds=HOUR)
    assert _latest(sdk, sub_id).amount_paid == 1000
    emulator.advance(days=31)
    assert _latest(sdk, sub_id).amount_paid == 2000


def test_prorations_are_billed_on_the_next_renewal(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = _subscribe(sdk, catalogue.monthly.id)
    item = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    emulator.advance(days=14)
    sdk.v1.subscriptions.update(
        sub_id, params={"items": [{"id": item.id, "price": catalogue.premium.id}]}
    )
    emulator.advance(days=14, seconds=HOUR)
    renewal = _latest(sdk, sub_id)
    # Stripe's order: pending items (prorations) newest first, then the item itself.
    amounts = [
        (line.amount, line.parent.type, line.parent.subscription_item_details.proration)
        for line in renewal.lines.data
    ]
    assert amounts == [
        (2500, "subscription_item_details", True),
        (-1000, "subscription_item_details", True),
        (5000, "subscription_item_details", False),
    ]
    items = {ii["id"]: ii for ii in emulator.objects("invoiceitem")}
    for line in renewal.lines.data[:2]:
        assert line.parent.subscription_item_details.invoice_item in items
        assert line.parent.subscription_item_details.subscription_item == item.id
    credit = renewal.lines.data[1].parent.subscription_item_details.proration_details
    first = sdk.v1.invoices.list(params={"subscription": sub_id}).data[-1]
    assert credit.credited_items.invoice == first.id
    assert credit.credited_items.invoice_line_items == [first.lines.data[0].id]
    assert renewal.amount_paid == 6500
    assert all(ii["invoice"] == renewal.id for ii in emulator.objects("invoiceitem"))


def test_downgrade_invoiced_now_leaves_a_credit_for_the_renewal(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = _subscribe(sdk, catalogue.premium.id)
    item = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    emulator.advance(days=14)
    sub = sdk.v1.subscriptions.update(
        sub_id,
        params={
            "items": [{"id": item.id, "price": catalogue.monthly.id}],
            "proration_behavior": "always_invoice",
        },
    )
    now = sdk.v1.invoices.retrieve(sub.latest_invoice)
    assert (now.total, now.amount_due, now.status, now.ending_balance) == (-1500, 0, "paid", -1500)
    assert sdk.v1.customers.retrieve(sub.customer).balance == -1500
    emulator.advance(days=14, seconds=HOUR)
    renewal = _latest(sdk, sub_id)
    assert (renewal.total, renewal.starting_balance, renewal.amount_due, renewal.amount_paid) == (
        2000,
        -1500,
        500,
        500,
    )
    assert sdk.v1.customers.retrieve(sub.customer).balance == 0


def test_switching_interval_restarts_the_cycle(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = _subscribe(sdk, catalogue.monthly.id)
    item = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    emulator.advance(days=7)
    sub = sdk.v1.subscriptions.update(
        sub_id, params={"items": [{"id": item.id, "price": catalogue.yearly.id}]}
    )
    new_item = sub["items"].data[0]
    assert (new_item.current_period_start, sub.billing_cycle_anchor) == (
        START + 7 * DAY,
        START + 7 * DAY,
    )
    assert new_item.current_period_end == 1_801_994_400  # 2027-02-07 10:00 UTC
    invoice = sdk.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.billing_reason == "subscription_update"
    assert [line.amount for line in invoice.lines.data] == [-1500, 20000]
    assert invoice.amount_paid == 18500
