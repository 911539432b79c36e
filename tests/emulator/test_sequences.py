"""Each flow of Stripe's event sequences (our API notes, section 2.4), as the emulator emits it.

Every test lists the events of one flow in Stripe's order, each with the
state its object is in, as Stripe's payload shows it. The ``emulator``
fixture also holds every one of these events to the stripe SDK's types
(no includable field, nothing undeclared).
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import Catalogue
from tests.emulator.helpers import (
    CARD_ALWAYS_AUTHENTICATE,
    CARD_FAILS_LATER,
    pay,
    post_form,
    subscribe,
)

HOUR, DAY = 3600, 86_400

Step = tuple[str, Any]


def state(event: dict[str, Any]) -> Any:
    """What Stripe's payload of this event type says about its object."""
    obj = event["data"]["object"]
    kind = obj["object"]
    if kind == "subscription":
        return obj["status"]
    if kind == "invoice":
        return (obj["status"], obj["billing_reason"])
    if kind in ("payment_intent", "refund", "invoice_payment"):
        return obj["status"]
    if kind == "charge":
        return (obj["status"], obj["paid"], obj["amount_refunded"])
    if kind == "checkout.session":
        return (obj["status"], obj["payment_status"])
    if kind == "dispute":
        return (obj["status"], len(obj["balance_transactions"]))
    if kind == "invoiceitem":
        return obj["amount"] < 0
    return None


class Flow:
    """The events of one flow, from the moment it is started."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.since = {e["id"] for e in emulator.objects("event")}

    def events(self) -> list[dict[str, Any]]:
        fresh = [e for e in reversed(self.emulator.objects("event")) if e["id"] not in self.since]
        self.since |= {e["id"] for e in fresh}
        return fresh

    def steps(self) -> list[Step]:
        return [(e["type"], state(e)) for e in self.events()]


FIRST_INVOICE: list[Step] = [
    ("invoice.created", ("draft", "subscription_create")),
    ("invoice.finalized", ("open", "subscription_create")),
    ("payment_intent.created", "requires_payment_method"),
    ("payment_intent.succeeded", "succeeded"),
    ("charge.succeeded", ("succeeded", True, 0)),
    ("charge.updated", ("succeeded", True, 0)),
    ("invoice_payment.paid", "paid"),
    ("invoice.updated", ("paid", "subscription_create")),
    ("invoice.paid", ("paid", "subscription_create")),
    ("invoice.payment_succeeded", ("paid", "subscription_create")),
]


def charged(reason: str) -> list[Step]:
    return [
        ("invoice.finalized", ("open", reason)),
        ("payment_intent.created", "requires_payment_method"),
        ("payment_intent.succeeded", "succeeded"),
        ("charge.succeeded", ("succeeded", True, 0)),
        ("charge.updated", ("succeeded", True, 0)),
        ("invoice_payment.paid", "paid"),
        ("invoice.updated", ("paid", reason)),
        ("invoice.paid", ("paid", reason)),
        ("invoice.payment_succeeded", ("paid", reason)),
    ]


DECLINED: list[Step] = [
    ("payment_intent.payment_failed", "requires_payment_method"),
    ("charge.failed", ("failed", False, 0)),
    ("invoice.payment_failed", ("open", "subscription_cycle")),
    ("invoice.updated", ("open", "subscription_cycle")),
]


def test_a_checkout_in_subscription_mode(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    flow = Flow(emulator)
    session = sdk.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": catalogue.monthly.id, "quantity": 1}],
        }
    )
    assert flow.steps() == []  # no checkout.session.created at Stripe
    pay(session.url)
    events = flow.events()
    assert [(e["type"], state(e)) for e in events] == [
        ("customer.created", None),
        ("payment_method.attached", None),
        ("customer.subscription.created", "incomplete"),
        *FIRST_INVOICE,
        ("customer.subscription.updated", "active"),
        ("checkout.session.completed", ("complete", "paid")),
    ]
    by_type = {e["type"]: e["data"] for e in events}
    assert (
        by_type["customer.subscription.updated"]["previous_attributes"]["status"] == "incomplete"
    )
    invoice = by_type["invoice.created"]["object"]
    assert invoice["parent"]["type"] == "subscription_details"
    paid = by_type["invoice.paid"]["object"]
    assert (paid["amount_remaining"], paid["amount_paid"]) == (0, 2000)
    completed = by_type["checkout.session.completed"]["object"]
    assert completed["payment_intent"] is None  # subscription mode: the invoice pays
    assert completed["invoice"] == invoice["id"]
    assert completed["subscription"] == by_type["customer.subscription.created"]["object"]["id"]
    assert completed["customer"] == by_type["customer.created"]["object"]["id"]


@pytest.mark.parametrize("customer_creation", [None, "always"])
def test_a_checkout_in_payment_mode(
    sdk: stripe.StripeClient,
    catalogue: Catalogue,
    emulator: Emulator,
    customer_creation: str | None,
) -> None:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"price": catalogue.pack.id, "quantity": 1}],
    }
    if customer_creation:
        params["customer_creation"] = customer_creation
    session = sdk.v1.checkout.sessions.create(params=params)
    flow = Flow(emulator)
    pay(session.url)
    created = [("customer.created", None)] if customer_creation else []
    assert flow.steps() == [
        *created,
        ("payment_intent.created", "requires_payment_method"),
        ("payment_intent.succeeded", "succeeded"),
        ("charge.succeeded", ("succeeded", True, 0)),
        ("charge.updated", ("succeeded", True, 0)),
        ("checkout.session.completed", ("complete", "paid")),
    ]


def test_a_renewal(sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    end = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0].current_period_end
    flow = Flow(emulator)
    emulator.advance(seconds=end - emulator.now())
    events = flow.events()
    assert [(e["type"], state(e)) for e in events] == [
        ("customer.subscription.updated", "active"),
        ("invoice.created", ("draft", "subscription_cycle")),
    ]
    moved = events[0]["data"]
    assert moved["previous_attributes"]["items"]["data"][0]["current_period_end"] == end
    assert events[1]["data"]["object"]["attempted"] is False
    emulator.advance(seconds=HOUR)
    events = flow.events()
    assert [(e["type"], state(e)) for e in events] == charged("subscription_cycle")
    assert {e["created"] for e in events} == {end + HOUR}
    assert all(e["request"]["id"] is None for e in events)  # Stripe's doing, no request


def test_a_failed_renewal_and_its_dunning(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id, card=CARD_FAILS_LATER)
    end = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0].current_period_end
    flow = Flow(emulator)
    emulator.advance(seconds=end - emulator.now() + HOUR)
    events = flow.events()
    assert [(e["type"], state(e)) for e in events] == [
        ("customer.subscription.updated", "active"),
        ("invoice.created", ("draft", "subscription_cycle")),
        ("invoice.finalized", ("open", "subscription_cycle")),
        ("payment_intent.created", "requires_payment_method"),
        *DECLINED,
        ("customer.subscription.updated", "past_due"),
    ]
    failed = next(e["data"]["object"] for e in events if e["type"] == "invoice.payment_failed")
    assert (failed["attempted"], failed["attempt_count"]) == (True, 1)
    assert failed["next_payment_attempt"] == end + HOUR + DAY
    error = next(e for e in events if e["type"] == "payment_intent.payment_failed")
    last_error = error["data"]["object"]["last_payment_error"]
    assert (last_error["type"], last_error["code"], last_error["decline_code"]) == (
        "card_error",
        "card_declined",
        "generic_decline",
    )
    charge = next(e for e in events if e["type"] == "charge.failed")["data"]["object"]
    assert (charge["failure_code"], charge["outcome"]["type"]) == (
        "card_declined",
        "issuer_declined",
    )
    for retry in range(2, 9):
        emulator.advance(seconds=failed["next_payment_attempt"] - emulator.now())
        events = flow.events()
        ended = [("customer.subscription.deleted", "canceled")] if retry == 8 else []
        assert [(e["type"], state(e)) for e in events] == [*DECLINED, *ended], retry
        failed = next(e["data"]["object"] for e in events if e["type"] == "invoice.payment_failed")
        assert failed["attempt_count"] == retry
    deleted = events[-1]["data"]["object"]
    assert deleted["cancellation_details"]["reason"] == "payment_failed"
    assert deleted["ended_at"] == end + HOUR + 14 * DAY


def test_a_renewal_that_needs_3d_secure(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id, card=CARD_ALWAYS_AUTHENTICATE)
    end = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0].current_period_end
    flow = Flow(emulator)
    emulator.advance(seconds=end - emulator.now() + HOUR)
    assert flow.steps() == [
        ("customer.subscription.updated", "active"),
        ("invoice.created", ("draft", "subscription_cycle")),
        ("invoice.finalized", ("open", "subscription_cycle")),
        ("payment_intent.created", "requires_payment_method"),
        ("payment_intent.requires_action", "requires_action"),
        ("invoice.payment_action_required", ("open", "subscription_cycle")),
        ("invoice.payment_failed", ("open", "subscription_cycle")),
        ("invoice.updated", ("open", "subscription_cycle")),
        ("customer.subscription.updated", "past_due"),
    ]
    invoice = sdk.v1.invoices.retrieve(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    post_form(invoice.hosted_invoice_url, {"action": "authenticate"})
    post_form(f"{invoice.hosted_invoice_url}/3ds", {"outcome": "complete"})
    assert flow.steps() == [
        ("payment_intent.succeeded", "succeeded"),
        ("charge.succeeded", ("succeeded", True, 0)),
        ("charge.updated", ("succeeded", True, 0)),
        ("invoice_payment.paid", "paid"),
        ("invoice.updated", ("paid", "subscription_cycle")),
        ("invoice.paid", ("paid", "subscription_cycle")),
        ("invoice.payment_succeeded", ("paid", "subscription_cycle")),
        ("customer.subscription.updated", "active"),
    ]


def test_cancel_at_period_end_through_the_portal(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    flow = Flow(emulator)
    portal = sdk.v1.billing_portal.sessions.create(params={"customer": sub.customer})
    post_form(portal.url, {"action": "cancel", "subscription": sub_id})
    events = flow.events()
    assert [(e["type"], state(e)) for e in events] == [
        ("billing_portal.session.created", None),
        ("customer.subscription.updated", "active"),
    ]
    data = events[1]["data"]
    assert data["object"]["cancel_at_period_end"] is True
    assert data["previous_attributes"]["cancel_at_period_end"] is False
    assert data["object"]["canceled_at"] == events[1]["created"]  # the request's time
    assert data["object"]["cancellation_details"]["reason"] == "cancellation_requested"
    end = sub["items"].data[0].current_period_end
    emulator.advance(seconds=end - emulator.now())
    events = flow.events()
    assert [(e["type"], state(e)) for e in events] == [
        ("customer.subscription.deleted", "canceled")
    ]
    assert events[0]["data"]["object"]["ended_at"] == end
    assert sdk.v1.invoices.list(params={"subscription": sub_id}).data[0].billing_reason == (
        "subscription_create"
    )  # no renewal invoice


def test_an_immediate_cancel(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    flow = Flow(emulator)
    sdk.v1.subscriptions.cancel(sub_id)
    events = flow.events()
    assert [(e["type"], state(e)) for e in events] == [
        ("customer.subscription.deleted", "canceled")
    ]
    deleted = events[0]["data"]["object"]
    assert deleted["canceled_at"] == deleted["ended_at"] == events[0]["created"]
    assert deleted["cancellation_details"]["reason"] == "cancellation_requested"


@pytest.mark.parametrize("behavior", ["none", "create_prorations", "always_invoice"])
def test_a_plan_switch(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator, behavior: str
) -> None:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    item = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    emulator.advance(days=14)
    flow = Flow(emulator)
    sdk.v1.subscriptions.update(
        sub_id,
        params={
            "items": [{"id": item.id, "price": catalogue.premium.id}],
            "proration_behavior": behavior,
        },
    )
    events = flow.events()
    prorations = [("invoiceitem.created", True), ("invoiceitem.created", False)]
    expected: list[Step] = [("customer.subscription.updated", "active")]
    if behavior != "none":
        expected += prorations
    if behavior == "always_invoice":
        expected += [
            ("invoice.created", ("draft", "subscription_update")),
            *charged("subscription_update"),
        ]
    assert [(e["type"], state(e)) for e in events] == expected
    previous = events[0]["data"]["previous_attributes"]
    assert previous["items"]["data"][0]["price"]["id"] == catalogue.monthly.id
    assert events[0]["data"]["object"]["items"]["data"][0]["price"]["id"] == catalogue.premium.id


def test_a_refund(sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator) -> None:
    session = sdk.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": catalogue.pack.id, "quantity": 1}]}
    )
    pay(session.url)
    pi_id = sdk.v1.checkout.sessions.retrieve(session.id).payment_intent
    flow = Flow(emulator)
    sdk.v1.refunds.create(params={"payment_intent": pi_id, "amount": 300})
    events = flow.events()
    assert [(e["type"], state(e)) for e in events] == [
        ("refund.created", "succeeded"),
        ("charge.refunded", ("succeeded", True, 300)),
        ("refund.updated", "succeeded"),
        ("charge.refund.updated", "succeeded"),
    ]
    charge = events[1]["data"]["object"]
    assert charge["refunded"] is False  # partial
    assert "refunds" not in charge  # includable: never in a webhook
    # No event for the payment intent or the Checkout Session.
    assert not any(e["type"].startswith(("payment_intent.", "checkout.")) for e in events)


@pytest.mark.parametrize("won", [True, False])
def test_a_dispute(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator, won: bool
) -> None:
    session = sdk.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": catalogue.pack.id, "quantity": 1}]}
    )
    pay(session.url)
    pi_id = sdk.v1.checkout.sessions.retrieve(session.id).payment_intent
    flow = Flow(emulator)
    opened = emulator.open_dispute(pi_id)
    assert flow.steps() == [
        ("charge.dispute.created", ("needs_response", 0)),
        ("charge.dispute.funds_withdrawn", ("needs_response", 1)),
    ]
    emulator.close_dispute(opened["id"], won=won)
    closing: list[Step] = [
        ("charge.dispute.updated", ("under_review", 1)),
        ("charge.dispute.closed", ("won" if won else "lost", 1)),
    ]
    if won:
        closing.append(("charge.dispute.funds_reinstated", ("won", 2)))
    assert flow.steps() == closing
