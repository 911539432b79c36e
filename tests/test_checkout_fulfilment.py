"""Fulfilment of a completed checkout: what the one locked read brings along must be right.

The subscriber's ledger lock is found through the payment, and one locked read
brings the product, the charge already recorded, the row of an invoice paid
first and whether events wait for the payment. These tests attack each: the
wrong subscriber locked, a charge not linked, a waiting event not released (or
one of another payment released), a repeat credited twice.
"""

from __future__ import annotations

from typing import Any

import pytest

from fiko_billing import tokens
from fiko_billing.models import (
    EntryKind,
    EventStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    TokenAccount,
    TokenEntry,
    WebhookEvent,
)
from fiko_billing.services.events.delivery import store_event
from fiko_billing.services.fulfilment import fulfil_checkout_session
from fiko_billing.testing import payloads
from fiko_billing.testing.webhooks import post_event
from tests import stripe_shapes
from tests.factories import (
    CustomerFactory,
    PackagePriceFactory,
    PaymentFactory,
    SubscriberFactory,
)
from tests.resolvers import bearer, use_bearer_resolver
from tests.test_webhooks import World


@pytest.fixture
def world(db: None) -> World:
    return World()


def package_session(world: World, session_id: str = "cs_f", **overrides: Any) -> dict[str, Any]:
    package = PackagePriceFactory(package__tokens=1_000).package
    PaymentFactory(
        subscriber=world.subscriber,
        package=package,
        amount=1_000,
        tokens=1_000,
        stripe_checkout_session_id=session_id,
    )
    return payloads.checkout_session(
        id=session_id,
        mode="payment",
        status="complete",
        customer_id=world.customer_id,
        amount_total=1_000,
        **{"payment_status": "paid", "payment_intent": "pi_f", **overrides},
    )


def refund_event(
    world: World, charge_id: str, intent: str, *, amount: int, event_id: str
) -> dict[str, Any]:
    """``refund.created`` of ``amount`` of a charge of 1,000 by the world's customer,
    made through our Checkout (its metadata names the subscriber)."""
    charge = payloads.charge(
        id=charge_id,
        amount=1_000,
        payment_intent=intent,
        customer=world.customer_id,
        metadata={"fiko_subscriber": str(world.subscriber.pk)},
    )
    refund = stripe_shapes.refund(charge=charge, amount=amount)
    return payloads.event("refund.created", refund, id=event_id)


def outcome(event: dict[str, Any]) -> str:
    response = post_event(event)
    assert response.status_code == 200, response.content
    return str(response.json()["outcome"])


def purchases(world: World) -> list[str | None]:
    entries = TokenEntry.objects.filter(
        account__subscriber=world.subscriber, kind=EntryKind.PURCHASE
    )
    return [entry.reference for entry in entries]


@pytest.mark.django_db
@pytest.mark.parametrize("account", [False, True], ids=["first-purchase", "account-made"])
def test_completed_then_repeated_and_async_succeeded_credit_once(world, account):
    if account:
        tokens.credit(world.subscriber, 5, kind=EntryKind.GRANT, reference="before")
    session = package_session(world)
    assert outcome(payloads.event("checkout.session.completed", session, id="evt_c1")) == (
        "processed"
    )
    assert outcome(payloads.event("checkout.session.completed", session, id="evt_c1")) == (
        "duplicate"
    )
    assert outcome(payloads.event("checkout.session.completed", session, id="evt_c2")) == (
        "processed"
    )
    succeeded = payloads.event("checkout.session.async_payment_succeeded", session, id="evt_a")
    assert outcome(succeeded) == "processed"
    assert purchases(world) == ["checkout:cs_f"]
    assert tokens.balance(world.subscriber) == 1_000 + (5 if account else 0)
    assert TokenAccount.objects.filter(subscriber=world.subscriber).count() == 1
    payment = Payment.objects.get(stripe_checkout_session_id="cs_f")
    assert (payment.status, payment.stripe_payment_intent_id) == (PaymentStatus.SUCCEEDED, "pi_f")
    assert payment.fulfilled_at is not None
    assert payment.credited_at is not None


@pytest.mark.django_db
def test_an_async_payment_pending_then_succeeded_is_credited_when_it_succeeds(world):
    session = package_session(world, payment_status="unpaid")
    assert outcome(payloads.event("checkout.session.completed", session)) == "processed"
    assert purchases(world) == []
    assert Payment.objects.get().status == PaymentStatus.PENDING
    session["payment_status"] = "paid"
    assert outcome(payloads.event("checkout.session.async_payment_succeeded", session)) == (
        "processed"
    )
    assert purchases(world) == ["checkout:cs_f"]


@pytest.mark.django_db
def test_only_the_payments_subscriber_is_locked_and_credited(world):
    other = CustomerFactory(stripe_customer_id="cus_other").subscriber
    tokens.credit(other, 7, kind=EntryKind.GRANT, reference="other")
    tokens.credit(world.subscriber, 3, kind=EntryKind.GRANT, reference="mine")
    touched_before = TokenAccount.objects.get(subscriber=other).updated
    session = package_session(world)
    assert fulfil_checkout_session(session).outcome == "fulfilled"
    assert TokenAccount.objects.get(subscriber=other).updated == touched_before
    assert (tokens.balance(other), tokens.balance(world.subscriber)) == (7, 1_003)


@pytest.mark.django_db
def test_a_session_of_an_erased_subscriber_is_not_fulfilled(world):
    session = package_session(world)
    tokens.credit(world.subscriber, 3, kind=EntryKind.GRANT, reference="mine")
    Payment.objects.update(subscriber=None)  # as erasure leaves it
    TokenAccount.objects.update(subscriber=None)
    assert fulfil_checkout_session(session).outcome == "unknown"
    assert TokenEntry.objects.filter(kind=EntryKind.PURCHASE).count() == 0
    assert Payment.objects.get().fulfilled_at is None


@pytest.mark.django_db
def test_a_stranger_cannot_fulfil_a_session_through_the_status_endpoint(
    world, client, settings, stripe_stub
):
    session = package_session(world)
    stripe_stub.on("GET", "/v1/checkout/sessions/cs_f", session)
    use_bearer_resolver(settings)
    stranger = SubscriberFactory()
    response = client.get(
        "/billing/stripe/checkout-session/cs_f/", HTTP_AUTHORIZATION=bearer(stranger)
    )
    assert response.status_code == 404
    assert stripe_stub.requests == []
    assert not TokenAccount.objects.exists()  # nobody's ledger lock was taken
    assert Payment.objects.get().fulfilled_at is None
    owner = client.get(
        "/billing/stripe/checkout-session/cs_f/", HTTP_AUTHORIZATION=bearer(world.subscriber)
    )
    assert owner.json()["fulfilled"] is True
    assert purchases(world) == ["checkout:cs_f"]


@pytest.mark.django_db
def test_a_charge_recorded_first_is_linked_and_the_refund_waiting_for_it_runs(world):
    charge = payloads.charge(id="ch_f", amount=1_000, payment_intent="pi_f")
    assert outcome(payloads.event("charge.succeeded", charge)) == "processed"
    session = package_session(world)
    # A refund that names only the charge, parked until the charge's payment is known.
    refund = stripe_shapes.refund(charge=charge, amount=1_000, refund_id="re_f")
    refund["payment_intent"] = None
    parked = store_event(payloads.event("refund.created", refund, id="evt_refund")).event
    WebhookEvent.objects.filter(pk=parked.pk).update(waiting_for="charge:ch_f")

    assert outcome(payloads.event("checkout.session.completed", session)) == "processed"
    payment = Payment.objects.get()
    assert (payment.stripe_payment_intent_id, payment.stripe_charge_id) == ("pi_f", "ch_f")
    parked.refresh_from_db()
    assert (parked.status, parked.waiting_for) == (EventStatus.PROCESSED, "")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert tokens.balance(world.subscriber) == 0


@pytest.mark.django_db
def test_a_refund_parked_before_the_checkout_completed_runs_with_it(world):
    session = package_session(world)
    refund = refund_event(world, "ch_f", "pi_f", amount=400, event_id="evt_refund")
    assert outcome(refund) == "waiting"
    assert outcome(payloads.event("checkout.session.completed", session)) == "processed"
    parked = WebhookEvent.objects.get(stripe_event_id="evt_refund")
    assert parked.status == EventStatus.PROCESSED
    assert tokens.balance(world.subscriber) == 600


@pytest.mark.django_db
def test_an_event_waiting_for_another_payment_stays_waiting(world):
    session = package_session(world)
    refund = refund_event(world, "ch_x", "pi_other", amount=1_000, event_id="evt_other")
    assert outcome(refund) == "waiting"
    assert outcome(payloads.event("checkout.session.completed", session)) == "processed"
    parked = WebhookEvent.objects.get(stripe_event_id="evt_other")
    assert (parked.status, parked.waiting_for) == (EventStatus.PENDING, "payment_intent:pi_other")
    assert tokens.balance(world.subscriber) == 1_000


# ------------------------------------------------------------------ subscription checkouts


def subscription_session(world: World) -> dict[str, Any]:
    PaymentFactory(
        subscriber=world.subscriber,
        kind=PaymentKind.SUBSCRIPTION,
        package=None,
        plan=world.price.plan,
        tokens=1_000,
        stripe_checkout_session_id="cs_s",
    )
    return payloads.checkout_session(
        id="cs_s",
        mode="subscription",
        status="complete",
        payment_status="paid",
        customer_id=world.customer_id,
        subscription=world.subscription_id,
        invoice="in_s",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("invoice_first", [False, True], ids=["checkout-first", "invoice-first"])
def test_a_subscription_checkout_and_its_first_invoice_are_one_payment(world, invoice_first):
    session = subscription_session(world)
    paid = world.invoice_event(
        "paid", "in_s", start=world.t0, reason="subscription_create", at=world.t0
    )
    events = [paid, payloads.event("checkout.session.completed", session)]
    for event in events if invoice_first else reversed(events):
        assert outcome(event) == "processed"
    payment = Payment.objects.get()
    assert (payment.stripe_checkout_session_id, payment.stripe_invoice_id) == ("cs_s", "in_s")
    assert payment.kind == PaymentKind.SUBSCRIPTION
    assert payment.fulfilled_at is not None
    assert payment.subscription is not None
    assert payment.subscription.stripe_subscription_id == world.subscription_id
    assert payment.subscription.customer_id == world.customer.pk
    assert tokens.balance(world.subscriber) == 1_000


@pytest.mark.django_db
def test_a_subscription_checkout_links_the_invoices_payment_intent_and_charge(world):
    session = subscription_session(world)
    intent_paid = payloads.invoice_payment(invoice_id="in_s", payment_intent="pi_s", amount=500)
    assert outcome(payloads.event("invoice_payment.paid", intent_paid)) == "processed"
    charge = payloads.charge(id="ch_s", amount=500, payment_intent="pi_s")
    assert outcome(payloads.event("charge.succeeded", charge)) == "processed"
    assert outcome(payloads.event("checkout.session.completed", session)) == "processed"
    payment = Payment.objects.get()
    assert (payment.stripe_payment_intent_id, payment.stripe_charge_id) == ("pi_s", "ch_s")
