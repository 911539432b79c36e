"""Query budgets of the checkout endpoints and of each webhook event type.

Measured, then fixed here exactly: a change that adds a query to a hot path
shows up as a failing test, and the figure is a deliberate decision.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from fiko_billing import tokens
from fiko_billing.models import EntryKind, PaymentStatus
from fiko_billing.testing import payloads
from fiko_billing.testing.webhooks import post_event
from tests import stripe_shapes
from tests.factories import (
    CustomerFactory,
    PackagePriceFactory,
    PaymentFactory,
    PlanPriceFactory,
)
from tests.fake_checkout import CheckoutSessions
from tests.resolvers import bearer_client
from tests.test_webhooks import World

DAY = 86_400
# Statements of a ledger credit inside a transaction (no savepoint): one on
# PostgreSQL, two on SQLite.
LEDGER_CREDIT = 1 if connection.vendor == "postgresql" else 2
# Statements of a take-back from its credit, no savepoint: one on PostgreSQL, four on SQLite;
# a repeated one is two (the attempt, which writes nothing, and the entry's read).
LEDGER_TAKE_BACK = 1 if connection.vendor == "postgresql" else 4
LEDGER_TAKE_BACK_AGAIN = 2


@pytest.fixture
def api(client: Any, settings: Any) -> Any:
    customer = CustomerFactory(stripe_customer_id="cus_q")
    bearer_client(client, settings, customer.subscriber)
    return client


def start(api: Any, plan_id: int, plan_type: str = "token") -> Any:
    return api.post(
        "/billing/stripe/checkout-session/",
        data=json.dumps({"plan_type": plan_type, "plan_id": plan_id}),
        content_type="application/json",
    )


@pytest.mark.django_db
def test_checkout_session_creation(api, stripe_stub, django_assert_num_queries):
    price = PackagePriceFactory(stripe_price_id="price_q")
    stripe_stub.on(
        "POST",
        "/v1/checkout/sessions",
        lambda r: payloads.checkout_session(customer_id=r.params["customer"]),
    )
    with django_assert_num_queries(10):
        assert start(api, price.package_id).status_code == 200


@pytest.mark.django_db
def test_checkout_status_until_and_after_fulfilment(api, stripe_stub, django_assert_num_queries):
    price = PackagePriceFactory(stripe_price_id="price_q", package__tokens=100)
    PaymentFactory(
        subscriber=api.subscriber,
        package=price.package,
        tokens=100,
        stripe_checkout_session_id="cs_test_q",
    )
    stripe_stub.on(
        "GET",
        "/v1/checkout/sessions/cs_test_q",
        payloads.checkout_session(
            id="cs_test_q",
            mode="payment",
            status="complete",
            payment_status="paid",
            customer_id="cus_q",
            payment_intent="pi_q",
        ),
    )
    # The resolver's user and the endpoint's read of the payment; then fulfilment: the
    # subscriber's ledger lock found through the payment (none yet: a first purchase),
    # the payment's subscriber, the account made and locked in one statement, the
    # payment locked and read with all fulfilment needs, the credit, the payment's
    # update; the balance. Inside the test's transaction fulfilment opens none: a
    # server sends its BEGIN and COMMIT too (2 more).
    with django_assert_num_queries(8 + LEDGER_CREDIT):
        assert api.get("/billing/stripe/checkout-session/cs_test_q/").json()["fulfilled"]
    with django_assert_num_queries(3):
        assert api.get("/billing/stripe/checkout-session/cs_test_q/").json()["fulfilled"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event_type", "budget"),
    # Statements of one delivery, processed in the request. The delivery's
    # transaction is a savepoint inside the test's: its SAVEPOINT and RELEASE
    # stand where a server sends BEGIN and COMMIT, so these are the counts a
    # deployment sees. The event row is inserted once, in its final state; a
    # duplicate is that insert (finding the row) and one locked read of it.
    [
        # The customer (and the row, not there yet), the lock, the row looked for
        # again under it (a concurrent delivery may have made it), the price, the
        # insert, its payments linked, the one-plan check.
        ("customer.subscription.created", 10),
        ("customer.subscription.updated", 7),
        ("invoice.paid", 8 + LEDGER_CREDIT),
        ("invoice.payment_failed", 11),
        ("product.created", 3),
        ("duplicate", 4),
    ],
)
def test_webhook_event_budgets(event_type, budget, django_assert_num_queries):
    world = World()  # the story of tests/test_webhooks.py
    if event_type == "customer.subscription.created":
        event = world.subscription_event("created", at=world.t0)
    else:
        post_event(world.subscription_event("created", at=world.t0))
        if event_type == "customer.subscription.updated":
            event = world.subscription_event("updated", at=world.t0 + 1, cancel_at_period_end=True)
        elif event_type == "invoice.paid":
            event = world.invoice_event(
                "paid", "in_2", start=world.t0, reason="subscription_cycle", at=world.t0
            )
        elif event_type == "invoice.payment_failed":
            event = world.invoice_event(
                "payment_failed", "in_3", start=world.t0, reason="subscription_cycle", at=world.t0
            )
        elif event_type == "product.created":
            event = payloads.event(event_type, payloads.product())
        else:
            event = world.subscription_event("created", at=world.t0)
            post_event(event)
    with django_assert_num_queries(budget):
        assert post_event(event).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event_type", "budget"),
    # The ledger's credit of the purchase, the take-back of the refund or dispute.
    # A completed checkout: the event's insert, the subscriber's ledger lock (found through
    # the payment), the payment locked and read with its subscriber, product, recorded
    # charge and whether events wait for it; the credit; the payment's update. On a first
    # purchase the subscriber has no ledger account yet: the lock finds none, the payment's
    # subscriber is read and the account made and locked in one statement (2 more).
    # The claims' 9: BEGIN, the event, the payment found, the subscriber's lock, the
    # payment's row and its claims (two reads), the refund or dispute written, the
    # payment's update, COMMIT.
    [
        ("checkout.session.completed", 8 + LEDGER_CREDIT),
        ("checkout.session.completed (account made before)", 6 + LEDGER_CREDIT),
        ("refund.created", 9 + LEDGER_TAKE_BACK),
        ("charge.dispute.created", 9 + LEDGER_TAKE_BACK),
        # The dispute's tokens were taken when it opened: this finds their entry.
        ("charge.dispute.funds_withdrawn", 9 + LEDGER_TAKE_BACK_AGAIN),
    ],
)
def test_token_package_event_budgets(event_type, budget, django_assert_num_queries):
    """A token-package checkout completed, and a refund of one fulfilled before."""
    world = World()
    package = PackagePriceFactory(stripe_price_id="price_pack", package__tokens=250).package
    bought = {"subscriber": world.subscriber, "kind": "token_package", "package": package}
    if event_type.startswith("checkout.session.completed"):
        if event_type.endswith("(account made before)"):
            with transaction.atomic():
                tokens.lock_account(world.subscriber)
        event_type = "checkout.session.completed"
        PaymentFactory(**bought, amount=500, tokens=250, stripe_checkout_session_id="cs_1")
        session = payloads.checkout_session(
            id="cs_1",
            status="complete",
            payment_status="paid",
            customer_id=world.customer_id,
            amount_total=500,
            payment_intent="pi_1",
        )
        event = payloads.event(event_type, session)
    else:
        paid_at = timezone.now()
        PaymentFactory(
            **bought,
            amount=500,
            tokens=250,
            stripe_checkout_session_id="cs_2",
            stripe_payment_intent_id="pi_2",
            status=PaymentStatus.SUCCEEDED,
            fulfilled_at=paid_at,
            credited_at=paid_at,
        )
        tokens.credit(world.subscriber, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_2")
        if event_type == "refund.created":
            charge = payloads.charge(
                id="ch_2", amount=500, amount_refunded=500, payment_intent="pi_2"
            )
            refund = stripe_shapes.refund(charge=charge, amount=500, refund_id="re_2")
            event = payloads.event(event_type, refund)
        else:
            dispute = payloads.dispute(charge_id="ch_2", amount=500, payment_intent="pi_2")
            if event_type.endswith("funds_withdrawn"):
                post_event(payloads.event("charge.dispute.created", dispute))
            event = payloads.event(event_type, dispute)
    with django_assert_num_queries(budget):
        assert post_event(event).json()["outcome"] == "processed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("before", "budget"),
    # A subscription checkout completed (its webhook names the subscription and the
    # invoice by id): the event's insert, the ledger lock found through the payment,
    # the payment locked and read with all fulfilment needs; the subscription marked
    # active (its row read and locked, and updated; or made, its payments linked and
    # the one-plan check), the payment's update. A first account costs 2 more (see the
    # package's); an invoice recorded first has its own row, which takes the session's
    # over (read, locked, the checkout's row deleted, its subscriber's row and the
    # invoice's PaymentIntent read, events waiting for it released).
    [
        ("the subscription recorded", 9),
        ("nothing recorded", 10),
        ("nothing recorded, a first account", 12),
        ("the subscription and its first invoice recorded", 15),
    ],
)
def test_subscription_checkout_completed_budgets(before, budget, django_assert_num_queries):
    world = World()
    PaymentFactory(
        subscriber=world.subscriber,
        kind="subscription",
        package=None,
        plan=world.price.plan,
        tokens=1_000,
        stripe_checkout_session_id="cs_s",
    )
    if before.startswith("the subscription"):
        post_event(world.subscription_event("created", at=world.t0))
    if before.endswith("first invoice recorded"):
        paid = world.invoice_event(
            "paid", "in_s", start=world.t0, reason="subscription_create", at=world.t0
        )
        post_event(paid)
    if before == "nothing recorded":
        with transaction.atomic():
            tokens.lock_account(world.subscriber)
    session = payloads.checkout_session(
        id="cs_s",
        mode="subscription",
        status="complete",
        payment_status="paid",
        customer_id=world.customer_id,
        subscription=world.subscription_id,
        invoice="in_s",
    )
    with django_assert_num_queries(budget):
        event = payloads.event("checkout.session.completed", session)
        assert post_event(event).json()["outcome"] == "processed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("before", "budget"),
    # The package path's 10, plus: the active-plan check, and (in a transaction of its
    # own) the customer row's lock and the open subscription checkouts; then an
    # expired payment's update, or no insert when the open session is reused.
    [("nothing open", 15), ("another plan open", 16), ("the same plan open", 14)],
)
def test_subscription_checkout(api, stripe_stub, django_assert_num_queries, before, budget):
    CheckoutSessions(stripe_stub)
    monthly = PlanPriceFactory(stripe_price_id="price_m").plan
    yearly = PlanPriceFactory(stripe_price_id="price_y", plan__interval="year").plan
    if before != "nothing open":
        start(api, yearly.pk if before == "another plan open" else monthly.pk, "full")
    with django_assert_num_queries(budget):
        assert start(api, monthly.pk, "full").status_code == 200
