"""``POST /v1/invoices/create_preview``: what a plan change would bill, changing nothing."""

from __future__ import annotations

import json

import pytest
import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import START, Catalogue
from tests.emulator.helpers import subscribe


def _state(emulator: Emulator) -> str:
    emulator.flush()  # deliveries count down the events' pending_webhooks
    with emulator.store.lock:
        return json.dumps(emulator.store.snapshot()["objects"], sort_keys=True)


def _preview(
    sdk: stripe.StripeClient, sub: stripe.Subscription, price: str, behavior: str
) -> stripe.Invoice:
    return sdk.v1.invoices.create_preview(
        params={
            "customer": sub.customer if isinstance(sub.customer, str) else sub.customer.id,
            "subscription": sub.id,
            "subscription_details": {
                "items": [{"id": sub["items"].data[0].id, "price": price}],
                "proration_behavior": behavior,  # type: ignore[typeddict-item]
            },
        }
    )


def test_a_switch_to_another_interval_is_billed_at_once_less_the_unused_time(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub = sdk.v1.subscriptions.retrieve(subscribe(sdk, catalogue.monthly.id))
    emulator.advance(days=7)
    events, state = emulator.event_types(), _state(emulator)

    preview = _preview(sdk, sub, catalogue.yearly.id, "create_prorations")

    # The cycle restarts now: the year (200.00) less 21 of February's 28 days (15.00).
    assert (preview.amount_due, preview.total, preview.subtotal) == (18_500, 18_500, 18_500)
    assert preview.id.startswith("upcoming_in_")
    assert (preview.status, preview.billing_reason, preview.currency) == (
        "draft",
        "upcoming",
        "usd",
    )
    lines = [
        (line.amount, line.parent.subscription_item_details.proration)
        for line in preview.lines.data
    ]
    assert lines == [(-1500, True), (20_000, False)]
    assert {line.invoice for line in preview.lines.data} == {preview.id}
    # Nothing changed: no event, no object, the subscription still monthly.
    assert emulator.event_types() == events
    assert _state(emulator) == state
    assert sdk.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == catalogue.monthly.id


def test_a_prorated_switch_in_the_same_interval_shows_the_next_invoice(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub = sdk.v1.subscriptions.retrieve(subscribe(sdk, catalogue.monthly.id))
    emulator.advance(days=7)

    preview = _preview(sdk, sub, catalogue.premium.id, "create_prorations")

    # At the period's end (28 February): the credit, the rest of February on
    # Premium, and March on Premium.
    amounts = [line.amount for line in preview.lines.data]
    assert amounts == [3750, -1500, 5000]
    assert preview.amount_due == 7250
    assert preview.billing_reason == "upcoming"
    assert preview.created == START + 28 * 86_400

    at_once = _preview(sdk, sub, catalogue.premium.id, "always_invoice")
    assert [line.amount for line in at_once.lines.data] == [3750, -1500]
    assert (at_once.amount_due, at_once.created) == (2250, START + 7 * 86_400)


def test_without_a_change_the_preview_is_the_next_renewal(
    sdk: stripe.StripeClient, catalogue: Catalogue
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    preview = sdk.v1.invoices.create_preview(params={"subscription": sub_id})
    assert [line.amount for line in preview.lines.data] == [2000]
    assert preview.amount_due == 2000


def test_previews_stripe_refuses(sdk: stripe.StripeClient, catalogue: Catalogue) -> None:
    sub = sdk.v1.subscriptions.retrieve(subscribe(sdk, catalogue.monthly.id))
    other = sdk.v1.customers.create(params={"email": "other@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as wrong_customer:
        sdk.v1.invoices.create_preview(params={"customer": other.id, "subscription": sub.id})
    assert wrong_customer.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError) as one_time:
        _preview(sdk, sub, catalogue.pack.id, "create_prorations")
    assert one_time.value.param == "subscription_details[items][0][price]"
    with pytest.raises(stripe.InvalidRequestError) as nothing:
        sdk.v1.invoices.create_preview(params={"customer": other.id})
    assert nothing.value.code == "invoice_upcoming_none"
