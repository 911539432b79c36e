"""Time: renewals (paid and failed), dunning, scheduled cancellation, expiry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import stripe

from fiko_billing.emulator import Emulator
from fiko_billing.emulator.clock import period_end
from tests.emulator.conftest import START, Catalogue, make_client
from tests.emulator.helpers import CARD_FAILS_LATER, CARD_OK, get_page, pay, post_form, post_json

DAY = 86_400
FEB_28 = 1_772_272_800
MAR_31 = 1_774_951_200
APR_30 = int(datetime(2026, 4, 30, 10, tzinfo=UTC).timestamp())

HOUR = 3600
#: At the period's end; the invoice is then a draft for an hour.
RENEWAL_START_EVENTS = ["customer.subscription.updated", "invoice.created"]
#: An hour later: finalized and charged.
RENEWAL_CHARGE_EVENTS = [
    "invoice.finalized",
    "payment_intent.created",
    "payment_intent.succeeded",
    "charge.succeeded",
    "charge.updated",
    "invoice_payment.paid",
    "invoice.updated",
    "invoice.paid",
    "invoice.payment_succeeded",
]
RENEWAL_EVENTS = RENEWAL_START_EVENTS + RENEWAL_CHARGE_EVENTS
FAILED_RENEWAL_EVENTS = [
    "customer.subscription.updated",
    "invoice.created",
    "invoice.finalized",
    "payment_intent.created",
    "payment_intent.payment_failed",
    "charge.failed",
    "invoice.payment_failed",
    "invoice.updated",
    "customer.subscription.updated",
]


def ts(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, 10, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("start", "interval", "count", "anchor", "expected"),
    [
        (ts(2026, 1, 31), "month", 1, ts(2026, 1, 31), ts(2026, 2, 28)),
        (ts(2026, 2, 28), "month", 1, ts(2026, 1, 31), ts(2026, 3, 31)),
        (ts(2028, 1, 30), "month", 1, ts(2028, 1, 30), ts(2028, 2, 29)),
        (ts(2026, 11, 15), "month", 3, ts(2026, 11, 15), ts(2027, 2, 15)),
        (ts(2028, 2, 29), "year", 1, ts(2028, 2, 29), ts(2029, 2, 28)),
        (ts(2026, 1, 1), "week", 2, ts(2026, 1, 1), ts(2026, 1, 15)),
        (ts(2026, 1, 1), "day", 1, ts(2026, 1, 1), ts(2026, 1, 2)),
    ],
)
def test_period_end(start: int, interval: str, count: int, anchor: int, expected: int) -> None:
    assert period_end(start, interval, count, anchor) == expected


def subscribe(sdk: stripe.StripeClient, catalogue: Catalogue, card: str = CARD_OK) -> str:
    session = sdk.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": catalogue.monthly.id, "quantity": 1}],
        }
    )
    pay(session.url, card=card)
    sub_id = sdk.v1.checkout.sessions.retrieve(session.id).subscription
    assert isinstance(sub_id, str)
    return sub_id


def test_renewal_paid(sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator) -> None:
    sub_id = subscribe(sdk, catalogue)
    since = len(emulator.event_types())
    emulator.advance(seconds=FEB_28 - START - 1)
    assert emulator.event_types()[since:] == []
    emulator.advance(seconds=1)
    assert emulator.now() == FEB_28
    assert emulator.event_types()[since:] == RENEWAL_START_EVENTS
    draft = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    assert (draft.status, draft.automatically_finalizes_at) == ("draft", FEB_28 + HOUR)
    emulator.advance(seconds=HOUR - 1)
    assert emulator.event_types()[since:] == RENEWAL_START_EVENTS
    emulator.advance(seconds=1)
    assert emulator.event_types()[since:] == RENEWAL_EVENTS
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    item = sub["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (FEB_28, MAR_31)
    assert sub.status == "active"
    invoice = sdk.v1.invoices.retrieve(sub.latest_invoice)
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == (
        "subscription_cycle",
        "paid",
        2000,
    )
    assert invoice.created == FEB_28
    assert invoice.status_transitions.finalized_at == FEB_28 + HOUR
    assert invoice.status_transitions.paid_at == FEB_28 + HOUR
    # The invoice's period bounds the items it takes (the month that ended);
    # its line bills the month that starts.
    assert (invoice.period_start, invoice.period_end) == (START, FEB_28)
    assert (invoice.lines.data[0].period.start, invoice.lines.data[0].period.end) == (
        FEB_28,
        MAR_31,
    )
    updated = sdk.v1.events.list(
        params={"type": "customer.subscription.updated", "limit": 1}
    ).data[0]
    assert updated.created == FEB_28
    assert updated.request.id is None
    previous = updated.data.previous_attributes
    assert previous["items"]["data"][0]["current_period_end"] == FEB_28
    assert previous["latest_invoice"] != sub.latest_invoice


def test_advance_over_several_periods(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue)
    steps = emulator.advance(days=62)
    assert steps == 4  # two renewals, each finalized and charged an hour later
    cycles = sdk.v1.invoices.list(params={"subscription": sub_id}).data
    assert [(i.billing_reason, i.created) for i in cycles] == [
        ("subscription_cycle", MAR_31),
        ("subscription_cycle", FEB_28),
        ("subscription_create", START),
    ]
    item = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (MAR_31, APR_30)


def test_renewal_fails_with_0341_then_dunning_cancels(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue, card=CARD_FAILS_LATER)
    since = len(emulator.event_types())
    emulator.advance(days=29)
    assert emulator.event_types()[since:] == FAILED_RENEWAL_EVENTS
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "past_due"
    invoice = sdk.v1.invoices.retrieve(sub.latest_invoice)
    assert (invoice.status, invoice.attempted, invoice.attempt_count) == ("open", True, 1)
    assert invoice.amount_remaining == 2000
    # Smart Retries: 8 attempts in 2 weeks, the first retry a day later.
    assert invoice.next_payment_attempt == FEB_28 + HOUR + DAY
    payment = sdk.v1.invoice_payments.list(params={"invoice": invoice.id}).data[0]
    pi = sdk.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert pi.status == "requires_payment_method"
    assert (pi.last_payment_error.decline_code, pi.last_payment_error.message) == (
        "generic_decline",
        "Your card was declined.",
    )
    past_due = sdk.v1.events.list(
        params={"type": "customer.subscription.updated", "limit": 1}
    ).data[0]
    assert past_due.data.previous_attributes.to_dict() == {"status": "active"}

    since = len(emulator.event_types())
    emulator.advance(days=1)
    second = sdk.v1.invoices.retrieve(invoice.id)
    assert (second.attempt_count, second.next_payment_attempt) == (2, FEB_28 + HOUR + 3 * DAY)
    assert emulator.event_types()[since:] == [
        "payment_intent.payment_failed",
        "charge.failed",
        "invoice.payment_failed",
        "invoice.updated",
    ]
    emulator.advance(days=12)
    assert sdk.v1.subscriptions.retrieve(sub_id).status == "past_due"
    assert sdk.v1.invoices.retrieve(invoice.id).attempt_count == 7
    emulator.advance(days=2)
    final = sdk.v1.invoices.retrieve(invoice.id)
    assert (final.attempt_count, final.next_payment_attempt, final.status) == (8, None, "open")
    ended = sdk.v1.subscriptions.retrieve(sub_id)
    assert ended.status == "canceled"
    assert ended.cancellation_details.reason == "payment_failed"
    assert ended.ended_at == FEB_28 + HOUR + 14 * DAY
    assert emulator.event_types()[-1] == "customer.subscription.deleted"


def test_new_card_in_the_portal_pays_the_overdue_invoice(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue, card=CARD_FAILS_LATER)
    emulator.advance(days=29)
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    portal = sdk.v1.billing_portal.sessions.create(params={"customer": sub.customer})
    post_form(
        portal.url,
        {
            "action": "update_card",
            "card_number": CARD_OK,
            "card_expiry": "1/30",
            "card_cvc": "123",
        },
    )
    recovered = sdk.v1.subscriptions.retrieve(sub_id)
    assert recovered.status == "active"
    invoice = sdk.v1.invoices.retrieve(recovered.latest_invoice)
    assert (invoice.status, invoice.attempt_count, invoice.amount_paid) == ("paid", 2, 2000)
    assert emulator.event_types()[-3:] == [
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]


def test_card_switched_to_0341_makes_the_renewal_fail(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue)
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    portal = sdk.v1.billing_portal.sessions.create(params={"customer": sub.customer})
    post_form(
        portal.url,
        {
            "action": "update_card",
            "card_number": CARD_FAILS_LATER,
            "card_expiry": "1/30",
            "card_cvc": "123",
        },
    )
    emulator.advance(days=29)
    assert sdk.v1.subscriptions.retrieve(sub_id).status == "past_due"


def test_cancel_at_period_end_ends_the_subscription(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue)
    sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    since = len(emulator.event_types())
    emulator.advance(days=40)
    assert emulator.event_types()[since:] == ["customer.subscription.deleted"]
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    assert (sub.status, sub.ended_at, sub.canceled_at) == ("canceled", FEB_28, START)
    assert sub.cancellation_details.reason == "cancellation_requested"
    assert len(sdk.v1.invoices.list(params={"subscription": sub_id}).data) == 1


def test_open_sessions_expire(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    session = sdk.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": catalogue.pack.id, "quantity": 1}]}
    )
    emulator.advance(seconds=24 * 3600)
    expired = sdk.v1.checkout.sessions.retrieve(session.id)
    assert expired.status == "expired"
    event = sdk.v1.events.list(params={"limit": 1}).data[0]
    assert (event.type, event.created) == ("checkout.session.expired", START + 24 * 3600)
    assert get_page(f"{emulator.url}/checkout/{session.id}").status == 410


def test_the_draft_window_is_configurable() -> None:
    with Emulator(frozen_at=START, invoice_finalize_delay=600, seed=3) as emulator:
        sdk = make_client(emulator.url)
        price = sdk.v1.prices.create(
            params={
                "product_data": {"name": "P"},
                "currency": "usd",
                "unit_amount": 700,
                "recurring": {"interval": "day"},
            }
        )
        session = sdk.v1.checkout.sessions.create(
            params={"mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}]}
        )
        pay(session.url)
        sub_id = sdk.v1.checkout.sessions.retrieve(session.id).subscription
        emulator.advance(days=1)
        draft = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
        assert (draft.status, draft.automatically_finalizes_at) == ("draft", START + DAY + 600)
        emulator.advance(seconds=600)
        paid = sdk.v1.invoices.retrieve(draft.id)
        assert (paid.status, paid.status_transitions.finalized_at) == ("paid", START + DAY + 600)


def test_clock_control_endpoints(emulator: Emulator) -> None:
    clock = get_page(f"{emulator.url}/_emulator/clock")
    assert clock.status == 200
    assert '"now": 1769853600' in clock.body
    advanced = post_form(f"{emulator.url}/_emulator/clock/advance", {"days": "1", "seconds": "30"})
    assert advanced.status == 200
    assert f'"now": {START + DAY + 30}' in advanced.body
    as_json = post_json(f"{emulator.url}/_emulator/clock/advance", {"hours": 2})
    assert f'"now": {START + DAY + 30 + 7200}' in as_json.body
    backwards = post_json(f"{emulator.url}/_emulator/clock/advance", {"seconds": -5})
    assert backwards.status == 400
    assert emulator.now() == START + DAY + 30 + 7200


def _failing_subscription(emulator: Emulator) -> tuple[stripe.StripeClient, str]:
    sdk = make_client(emulator.url)
    price = sdk.v1.prices.create(
        params={
            "product_data": {"name": "P"},
            "currency": "usd",
            "unit_amount": 700,
            "recurring": {"interval": "month"},
        }
    )
    session = sdk.v1.checkout.sessions.create(
        params={"mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}]}
    )
    pay(session.url, card=CARD_FAILS_LATER)
    sub_id = sdk.v1.checkout.sessions.retrieve(session.id).subscription
    assert isinstance(sub_id, str)
    return sdk, sub_id


def test_retries_used_up_can_leave_the_subscription_unpaid() -> None:
    with Emulator(frozen_at=START, payment_retries=(2, 4), after_retries="unpaid") as emulator:
        sdk, sub_id = _failing_subscription(emulator)
        emulator.advance(days=28, seconds=HOUR)
        invoice = sdk.v1.subscriptions.retrieve(sub_id).latest_invoice
        assert sdk.v1.invoices.retrieve(invoice).next_payment_attempt == FEB_28 + HOUR + 2 * DAY
        emulator.advance(days=4)
        sub = sdk.v1.subscriptions.retrieve(sub_id)
        assert sub.status == "unpaid"
        assert sdk.v1.invoices.retrieve(invoice).attempt_count == 3
        moved = sdk.v1.events.list(params={"type": "customer.subscription.updated", "limit": 1})
        assert moved.data[0].data.previous_attributes.to_dict() == {"status": "past_due"}
        # Later invoices are created but never charged.
        emulator.advance(days=31)
        later = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
        assert (later.billing_reason, later.status, later.auto_advance) == (
            "subscription_cycle",
            "draft",
            False,
        )
        assert sdk.v1.subscriptions.retrieve(sub_id).status == "unpaid"


def test_retries_used_up_can_leave_the_subscription_past_due() -> None:
    with Emulator(frozen_at=START, payment_retries=(1,), after_retries="past_due") as emulator:
        sdk, sub_id = _failing_subscription(emulator)
        emulator.advance(days=30)
        invoice = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
        assert (invoice.attempt_count, invoice.next_payment_attempt) == (2, None)
        assert sdk.v1.subscriptions.retrieve(sub_id).status == "past_due"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"payment_retries": (3, 1)}, "increasing"),
        ({"payment_retries": (0,)}, "increasing"),
        ({"after_retries": "deleted"}, "after_retries"),
        ({"invoice_finalize_delay": -1}, "negative"),
    ],
)
def test_billing_settings_are_checked(options: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Emulator(**options)  # type: ignore[arg-type]
