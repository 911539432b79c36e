"""The money rules, each checked with the events the emulator sends as Stripe does.

Every story here is played on the emulator in this process; its events reach
our webhook view signed as Stripe signs them, at the time Stripe created them
(a late one later, never in the past). See docs/money_rules.md.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Sum

from fiko_billing import signals, tokens
from fiko_billing.models import (
    Dispute,
    EntryKind,
    EventStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Refund,
    Subscription,
    SubscriptionStatus,
    TokenEntry,
    WebhookEvent,
)
from fiko_billing.services.duplicates import enforce_single_subscription
from fiko_billing.testing.hosted import CARD_FAILS_AT_RENEWAL, CARD_SUCCEEDS
from fiko_billing.testing.webhooks import post_event
from tests.factories import SubscriptionFactory
from tests.money_world import DAY, HOUR, RENEWAL_1, RENEWAL_2, START, MoneyWorld, at_time
from tests.stories import recorded


@pytest.fixture
def world(settings: Any, db: None) -> Iterator[MoneyWorld]:
    running = MoneyWorld(settings)
    yield running
    running.close()


class Sent:
    """Posts events to the webhook view as Stripe would: signed, never back in time."""

    def __init__(self) -> None:
        self.now = 0
        self.answers: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        bodies = []
        for event in events:
            self.now = max(self.now, int(event["created"]))
            with at_time(self.now):
                response = post_event(json.loads(json.dumps(event)))
            assert response["Content-Type"] == "application/json"
            body = {"status": response.status_code, **response.json()}
            self.answers.setdefault(event["type"], []).append(body)
            bodies.append(body)
        return bodies


@pytest.fixture
def send() -> Sent:
    return Sent()


def of_type(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] in types]


def without(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] not in types]


def balance_at(moment: int, subscriber: Any) -> int:
    with at_time(moment):
        return tokens.balance(subscriber)


def ledger() -> list[tuple[str, int, str]]:
    return [
        (e.kind, e.amount, e.reference or f"of {e.grant.reference if e.grant else ''}")
        for e in TokenEntry.objects.order_by("pk").select_related("grant")
    ]


def balance_is_sum_of_entries(subscriber: Any) -> bool:
    entries = TokenEntry.objects.filter(account__subscriber=subscriber)
    total = entries.aggregate(total=Sum("amount"))["total"] or 0
    return int(subscriber.token_account.balance) == total


def all_processed() -> list[tuple[str, str, str]]:
    return list(
        WebhookEvent.objects.exclude(
            status__in=[EventStatus.PROCESSED, EventStatus.IGNORED]
        ).values_list("type", "status", "waiting_for")
    )


# ---------------------------------------------------------------------- 1. every payment recorded


def test_a_refund_of_the_first_subscription_payment_is_recorded_and_takes_its_tokens(world, send):
    world.checkout(world.monthly)
    invoice = world.subscription()["latest_invoice"]
    intent = world.intent_of(invoice)
    world.advance(days=2)
    world.refund(intent)

    send(world.events())

    payment = Payment.objects.get(stripe_invoice_id=invoice)
    assert (payment.kind, payment.status, payment.amount_refunded) == (
        PaymentKind.SUBSCRIPTION,
        PaymentStatus.REFUNDED,
        500,
    )
    assert payment.stripe_payment_intent_id == intent
    assert payment.stripe_checkout_session_id is not None  # the checkout's and the invoice's
    assert Payment.objects.count() == 1
    assert balance_at(START + 2 * DAY, world.subscriber) == 0
    assert all_processed() == []


def test_a_renewal_is_recorded_with_its_payment_intent_and_its_refund_found(world, send):
    world.checkout(world.monthly)
    world.advance_to(RENEWAL_1 + 2 * HOUR)
    renewal_invoice = world.subscription()["latest_invoice"]
    intent = world.intent_of(renewal_invoice)
    world.refund(intent, 250)

    send(world.events())

    renewal = Payment.objects.get(stripe_invoice_id=renewal_invoice)
    assert (renewal.kind, renewal.stripe_payment_intent_id, renewal.status) == (
        PaymentKind.RENEWAL,
        intent,
        PaymentStatus.PARTIALLY_REFUNDED,
    )
    assert renewal.stripe_charge_id is not None
    assert Refund.objects.get().payment == renewal
    # Half the renewal's 1,000 tokens go back; the first period's have expired.
    assert balance_at(RENEWAL_1 + 2 * HOUR, world.subscriber) == 500


def test_a_package_refund_before_its_checkout_is_known_waits_then_applies(world, send, caplog):
    world.checkout(world.package)
    intent = world.find("checkout.session", mode="payment")["payment_intent"]
    world.refund(intent)
    events = world.events()
    refunds = of_type(events, "refund.created", "refund.updated", "charge.refunded")

    with caplog.at_level("INFO", logger="fiko_billing"):
        answers = send(refunds)
    assert {a["outcome"] for a in answers if a["status"] == 200} >= {"waiting"}
    assert all(a["status"] == 200 for a in answers)
    waiting = WebhookEvent.objects.get(type="refund.created")
    assert (waiting.status, waiting.waiting_for) == (
        EventStatus.PENDING,
        f"payment_intent:{intent}",
    )
    assert not [r for r in caplog.records if r.exc_info]

    send(without(events, *[e["type"] for e in refunds]))

    assert all_processed() == []
    payment = Payment.objects.get(kind=PaymentKind.TOKEN_PACKAGE)
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 1_000)
    assert balance_at(START, world.subscriber) == 0


# ---------------------------------------------------------------------- 2. expired tokens


def test_a_refund_after_the_allowance_expired_does_not_take_the_expired_tokens(world, send):
    world.checkout(world.monthly)
    first_invoice = world.subscription()["latest_invoice"]
    send(world.events())
    world.mark()
    # The first period ends (its 1,000 tokens expire unspent), a package is bought.
    world.advance_to(RENEWAL_1 + 2 * HOUR)
    world.checkout(world.package)
    world.refund(world.intent_of(first_invoice))

    send(world.events())

    moment = RENEWAL_1 + 2 * HOUR
    # The renewal's 1,000 and the package's 1,000 are untouched.
    assert balance_at(moment, world.subscriber) == 2_000
    first = Payment.objects.get(stripe_invoice_id=first_invoice)
    assert first.status == PaymentStatus.REFUNDED
    assert not TokenEntry.objects.filter(kind=EntryKind.REFUND).exists()
    with at_time(moment):
        tokens.consume(world.subscriber, 2_000)


@pytest.mark.parametrize(("policy", "expected"), [("debt", -300), ("forgive", 0)])
def test_spent_tokens_of_a_refunded_payment_are_a_debt_or_forgiven(
    world, send, settings, policy, expected
):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "REFUND_SPENT_TOKENS": policy}
    world.checkout(world.package)
    intent = world.find("checkout.session", mode="payment")["payment_intent"]
    send(world.events())
    world.mark()
    with at_time(START):
        tokens.consume(world.subscriber, 300)
    world.refund(intent)

    send(world.events())

    assert balance_at(START, world.subscriber) == expected
    assert balance_is_sum_of_entries(world.subscriber)


# ---------------------------------------------------------------------- 3. plan changes


def test_monthly_to_yearly_grants_the_yearly_allowance_and_ends_the_monthly_one(world, send):
    world.checkout(world.monthly)
    world.advance(days=10)
    world.change_plan(world.yearly, proration_behavior="always_invoice")

    send(world.events())

    change = Payment.objects.get(kind=PaymentKind.PLAN_CHANGE)
    assert (change.plan, change.tokens, change.status) == (
        world.yearly,
        15_000,
        PaymentStatus.SUCCEEDED,
    )
    moment = START + 10 * DAY
    # The monthly allowance's rest expired at the change; the yearly one is there.
    assert balance_at(moment, world.subscriber) == 15_000
    grant = TokenEntry.objects.get(reference=f"invoice:{change.stripe_invoice_id}")
    assert int(grant.expires_at.timestamp()) == int(
        Subscription.objects.get().current_period_end.timestamp()
    )
    assert Subscription.objects.get().plan == world.yearly


def test_after_a_same_interval_change_the_renewal_grants_the_new_plan(world, send):
    world.checkout(world.monthly)
    world.advance(days=10)
    world.change_plan(world.premium, proration_behavior="create_prorations")
    world.advance_to(RENEWAL_1 + 2 * HOUR)
    renewal_invoice = world.subscription()["latest_invoice"]
    lines = world.emulator.get(renewal_invoice)["lines"]["data"]
    assert lines[0]["parent"]["subscription_item_details"]["proration"] is True

    send(world.events())

    renewal = Payment.objects.get(stripe_invoice_id=renewal_invoice)
    assert (renewal.kind, renewal.plan, renewal.tokens) == (
        PaymentKind.RENEWAL,
        world.premium,
        5_000,
    )
    assert balance_at(RENEWAL_1 + 2 * HOUR, world.subscriber) == 5_000


def test_an_upgrade_invoiced_at_once_grants_the_prorated_difference(world, send):
    world.checkout(world.monthly)
    world.advance(days=10)  # 21 of the period's 31 days are left
    world.change_plan(world.premium, proration_behavior="always_invoice")

    send(world.events())

    change = Payment.objects.get(kind=PaymentKind.PLAN_CHANGE)
    # (5,000 - 1,000) tokens for the part of the period the proration charged.
    share = 4_000 * 21 // 31
    assert abs(change.tokens - share) <= 1
    assert balance_at(START + 10 * DAY, world.subscriber) == 1_000 + change.tokens


def test_a_downgrade_keeps_the_period_allowance_and_the_renewal_grants_the_new_plan(world, send):
    world.checkout(world.premium)
    world.advance(days=10)
    world.change_plan(world.monthly, proration_behavior="always_invoice")
    world.advance_to(RENEWAL_1 + 2 * HOUR)

    events = world.events()
    send(e for e in events if e["created"] < RENEWAL_1)
    assert balance_at(START + 10 * DAY, world.subscriber) == 5_000  # nothing taken back
    send(e for e in events if e["created"] >= RENEWAL_1)

    renewal = Payment.objects.get(kind=PaymentKind.RENEWAL)
    assert (renewal.plan, renewal.tokens) == (world.monthly, 1_000)


# ---------------------------------------------------------------------- 4. two subscriptions


def test_a_second_paid_subscription_is_canceled_and_refunded_at_once(
    world, send, django_capture_on_commit_callbacks
):
    world.checkout(world.monthly)  # paid; its events are not delivered yet
    world.advance(seconds=60)
    # Checkout refuses a second one; one made elsewhere is paid a minute later.
    world.checkout_elsewhere(world.yearly)
    first, second = sorted(world.emulator.objects("subscription"), key=lambda s: s["created"])
    events = world.events()
    world.mark()
    with (
        recorded(
            signals.subscription_duplicate_canceled,
            lambda kw: (
                kw["subscription"].stripe_subscription_id,
                kw["kept"].stripe_subscription_id,
            ),
        ) as duplicates,
        django_capture_on_commit_callbacks(execute=True),
    ):
        send(events)
    made = world.events()  # by our cancel and refund
    assert {"customer.subscription.deleted", "refund.created"} <= {e["type"] for e in made}
    send(made)

    kept = Subscription.objects.get(stripe_subscription_id=first["id"])
    canceled = Subscription.objects.get(stripe_subscription_id=second["id"])
    assert kept.status == SubscriptionStatus.ACTIVE
    assert (canceled.status, canceled.canceled_as_duplicate_of) == (
        SubscriptionStatus.CANCELED,
        kept,
    )
    assert world.emulator.get(second["id"])["status"] == "canceled"
    refund = Refund.objects.get()
    assert (refund.amount, refund.payment.stripe_subscription_id) == (5_000, second["id"])
    assert Payment.objects.get(stripe_subscription_id=second["id"]).status == (
        PaymentStatus.REFUNDED
    )
    assert duplicates == [(second["id"], first["id"])]
    assert balance_at(START, world.subscriber) == 1_000  # the yearly allowance went back


@pytest.mark.django_db
def test_plans_of_erased_subscribers_are_not_duplicates_of_each_other(stripe_stub):
    # Erasure leaves subscriptions still live in Stripe without a subscriber:
    # they belong to different people, and none is a second plan of another.
    kept, other = (
        SubscriptionFactory(subscriber=None, status=SubscriptionStatus.ACTIVE) for _ in range(2)
    )
    with transaction.atomic():
        enforce_single_subscription(other)
    assert stripe_stub.requests == []
    assert sorted(Subscription.objects.values_list("status", flat=True)) == [
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.ACTIVE,
    ]
    assert not Subscription.objects.filter(canceled_as_duplicate_of__isnull=False).exists()
    assert kept.pk != other.pk


# ---------------------------------------------------------------------- 5. the same second


def _fail_then_fix_in_one_second(world: MoneyWorld) -> tuple[dict[str, Any], dict[str, Any]]:
    """The renewal fails with 0341 and a new card pays it in that very second."""
    world.checkout(world.monthly)
    world.advance_to(RENEWAL_1 + 2 * HOUR)
    world.update_card(CARD_FAILS_AT_RENEWAL)
    world.advance_to(RENEWAL_2 + HOUR)
    world.update_card(CARD_SUCCEEDS)
    updates = [
        e
        for e in world.events()
        if e["type"] == "customer.subscription.updated"
        and "status" in (e["data"].get("previous_attributes") or {})
        and e["created"] == RENEWAL_2 + HOUR
    ]
    past_due, active = updates
    assert (past_due["data"]["object"]["status"], active["data"]["object"]["status"]) == (
        "past_due",
        "active",
    )
    return past_due, active


@pytest.mark.parametrize("late", ["past_due", "active"])
def test_past_due_then_active_in_the_same_second_ends_active(world, send, late):
    past_due, active = _fail_then_fix_in_one_second(world)
    held = past_due if late == "past_due" else active
    send(e for e in world.events() if e["id"] != held["id"])
    send([held])
    row = Subscription.objects.get()
    assert row.status == SubscriptionStatus.ACTIVE
    renewal = Payment.objects.get(stripe_invoice_id=active["data"]["object"]["latest_invoice"])
    assert renewal.status == PaymentStatus.SUCCEEDED


@pytest.mark.parametrize("first", ["past_due", "active"])
def test_a_tie_the_payloads_cannot_order_is_settled_by_one_retrieve(world, send, first):
    past_due, active = _fail_then_fix_in_one_second(world)
    calls: list[str] = []
    world.emulator.observe(exchanges=lambda x: calls.append(f"{x.method} {x.path}"))
    # Nothing else known: two changes of one second that undo each other.
    pair = [past_due, active] if first == "past_due" else [active, past_due]
    send(pair)
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    assert calls == [f"GET /v1/subscriptions/{active['data']['object']['id']}"]
    send(world.events())  # the rest changes nothing, and asks Stripe nothing more
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    assert len(calls) == 1


# ---------------------------------------------------------------------- 6. partial updates


def _held_back(events: list[dict[str, Any]], late: dict[str, Any]) -> list[dict[str, Any]]:
    """``late`` and every later full state of the subscription (which would repeat it)."""
    return [
        e
        for e in events
        if e is late
        or (e["type"].startswith("customer.subscription.") and e["created"] >= late["created"])
    ]


def test_a_failed_invoice_writes_the_status_only_and_keeps_a_late_plan_change(world, send):
    world.checkout(world.monthly)
    world.update_card(CARD_FAILS_AT_RENEWAL)
    world.advance(days=10)
    world.change_plan(world.premium, proration_behavior="none")
    world.advance_to(RENEWAL_1 + HOUR)  # the renewal fails
    events = world.events()
    change = next(
        e
        for e in events
        if e["type"] == "customer.subscription.updated"
        and "items" in (e["data"].get("previous_attributes") or {})
        and e["created"] == START + 10 * DAY
    )
    held = _held_back(events, change)
    send(e for e in events if e not in held)  # invoice.payment_failed among them
    assert Subscription.objects.get().status == SubscriptionStatus.PAST_DUE
    send([change])  # older than the failed invoice, delivered after it

    row = Subscription.objects.get()
    assert (row.status, row.plan) == (SubscriptionStatus.PAST_DUE, world.premium)
    send(held)
    row.refresh_from_db()
    assert (row.status, row.plan) == (SubscriptionStatus.PAST_DUE, world.premium)


def test_a_late_scheduled_cancellation_is_kept_after_a_newer_failed_invoice(world, send):
    world.checkout(world.monthly)
    world.update_card(CARD_FAILS_AT_RENEWAL)
    world.advance(days=10)
    ends = START + 70 * DAY  # after the next renewal, which still happens
    world.sdk.v1.subscriptions.update(world.subscription()["id"], params={"cancel_at": ends})
    world.advance_to(RENEWAL_1 + HOUR)  # the renewal fails
    events = world.events()
    cancel = next(
        e
        for e in events
        if e["type"] == "customer.subscription.updated"
        and "cancel_at" in (e["data"].get("previous_attributes") or {})
    )
    held = _held_back(events, cancel)
    send(e for e in events if e not in held)  # invoice.payment_failed among them
    send([cancel])  # older than the failed invoice, delivered after it

    row = Subscription.objects.get()
    assert row.status == SubscriptionStatus.PAST_DUE
    assert row.cancel_at is not None
    assert int(row.cancel_at.timestamp()) == ends


# ---------------------------------------------------------------------- 7. renewals in any order


def test_a_renewal_paid_before_its_subscription_is_known_names_it_and_its_plan(world, send):
    world.checkout(world.monthly)
    world.advance(days=10)
    world.change_plan(world.premium, proration_behavior="create_prorations")
    world.advance_to(RENEWAL_1 + 2 * HOUR)
    events = world.events()
    payments = [e for e in events if e["type"].startswith(("invoice", "charge."))]

    send(payments)  # before anything told us of the subscription or the plan change
    renewal = Payment.objects.get(kind=PaymentKind.RENEWAL)
    assert (renewal.plan, renewal.subscription) == (world.premium, None)
    send(e for e in events if e not in payments)

    renewal.refresh_from_db()
    assert renewal.plan == world.premium
    assert renewal.subscription == Subscription.objects.get()
    assert renewal.stripe_subscription_id == Subscription.objects.get().stripe_subscription_id


# ---------------------------------------------------------------------- 8. disputes


def _disputed(world: MoneyWorld, what: str) -> str:
    """Pay ``what`` and return the PaymentIntent that paid it."""
    if what == "package":
        world.checkout(world.package)
        return str(world.find("checkout.session", mode="payment")["payment_intent"])
    world.checkout(world.monthly)
    if what == "renewal":
        world.advance_to(RENEWAL_1 + 2 * HOUR)
    return world.intent_of(world.subscription()["latest_invoice"])


@pytest.mark.parametrize("what", ["first_payment", "renewal", "package"])
def test_a_lost_dispute_takes_back_the_tokens_as_a_refund_does(world, send, what):
    intent = _disputed(world, what)
    dispute = world.open_dispute(intent)
    world.advance(days=10)
    world.close_dispute(dispute["id"], won=False)

    send(world.events())

    payment = Payment.objects.get(stripe_payment_intent_id=intent)
    assert payment.status == PaymentStatus.DISPUTE_LOST
    row = Dispute.objects.get()
    assert (row.status, row.funds_withdrawn, row.tokens) == ("lost", True, payment.tokens)
    assert payment.tokens == 1_000
    assert TokenEntry.objects.get(kind=EntryKind.DISPUTE).amount == -1_000
    assert not TokenEntry.objects.filter(kind=EntryKind.REINSTATE).exists()
    assert balance_at(world.now(), world.subscriber) == 0  # the disputed payment's tokens
    assert balance_is_sum_of_entries(world.subscriber)
    assert all_processed() == []


@pytest.mark.parametrize("what", ["first_payment", "renewal", "package"])
def test_a_won_dispute_gives_back_what_it_held(
    world, send, what, django_capture_on_commit_callbacks
):
    intent = _disputed(world, what)
    dispute = world.open_dispute(intent)
    opened = world.events()
    world.mark()
    send(opened)
    payment = Payment.objects.get(stripe_payment_intent_id=intent)
    assert payment.status == PaymentStatus.DISPUTED
    moment = world.now()
    held = balance_at(moment, world.subscriber)
    world.advance(days=10)
    world.close_dispute(dispute["id"], won=True)

    with (
        recorded(signals.payment_dispute_closed, lambda kw: kw["status"]) as closed,
        django_capture_on_commit_callbacks(execute=True),
    ):
        send(world.events())

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert closed == ["won"]
    assert Dispute.objects.get().funds_reinstated is True
    kinds = [e.kind for e in TokenEntry.objects.order_by("pk")]
    assert kinds.count(EntryKind.DISPUTE) == 1
    assert kinds.count(EntryKind.REINSTATE) == 1
    assert balance_at(moment, world.subscriber) == held + payment.tokens


def test_a_dispute_before_its_payment_is_known_waits(world, send):
    intent = _disputed(world, "package")
    world.open_dispute(intent)
    events = world.events()
    disputes = [e for e in events if e["type"].startswith("charge.dispute.")]

    answers = send(disputes)
    assert {a["outcome"] for a in answers} == {"waiting"}
    send(e for e in events if e not in disputes)

    assert all_processed() == []
    assert Payment.objects.get(kind=PaymentKind.TOKEN_PACKAGE).status == PaymentStatus.DISPUTED
    assert balance_at(world.now(), world.subscriber) == 0


def test_a_refund_delivered_after_a_dispute_does_not_hide_it(world, send):
    intent = _disputed(world, "package")
    world.refund(intent, 200)  # a partial refund, then the rest is disputed
    world.advance(days=1)
    world.open_dispute(intent, amount=800)
    events = world.events()
    refunds = [e for e in events if e["type"].startswith(("refund.", "charge.refund"))]

    send(e for e in events if e not in refunds)
    send(refunds)

    payment = Payment.objects.get(kind=PaymentKind.TOKEN_PACKAGE)
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.DISPUTED, 200)
    # 200 tokens refunded, 800 held by the dispute.
    assert balance_at(world.now(), world.subscriber) == 0


def test_a_refund_of_a_charge_made_outside_fiko_billing_is_placed_by_one_question_later(
    world, send
):
    world.checkout(world.package)
    send(world.events())
    world.mark()
    customer = world.find("checkout.session", mode="payment")["customer"]
    # A charge of the same customer made outside fiko-billing (the dashboard, say).
    intent = world.sdk.v1.payment_intents.create(
        params={
            "amount": 700,
            "currency": "usd",
            "customer": customer,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    world.refund(intent.id)
    calls: list[str] = []
    world.emulator.observe(exchanges=lambda x: calls.append(f"{x.method} {x.path}"))

    answers = send(of_type(world.events(), "refund.created", "refund.updated"))

    assert {a["outcome"] for a in answers} == {"waiting"}  # its payment may be on its way
    assert calls == []
    with at_time(world.now() + 2 * HOUR):  # the scheduled run, an hour on
        call_command("process_webhook_events", stdout=io.StringIO())
    # One question per event (refund.created, refund.updated): it paid no invoice.
    assert calls == ["GET /v1/invoice_payments"] * len(answers)
    assert all_processed() == []
    assert not Refund.objects.exists()
    assert balance_at(world.now(), world.subscriber) == 1_000


def test_refunds_and_renewals_of_an_erased_subscriber_are_recorded_without_a_ledger(world, send):
    from fiko_billing.services.erasure import erase_subscriber

    world.checkout(world.monthly)
    invoice = world.subscription()["latest_invoice"]
    send(world.events())
    world.mark()
    with at_time(START + DAY):
        erase_subscriber(world.subscriber)  # cancels the subscription in Stripe too
    world.refund(world.intent_of(invoice))

    send(world.events())

    assert all_processed() == []
    payment = Payment.objects.get(stripe_invoice_id=invoice)
    assert (payment.subscriber, payment.status) == (None, PaymentStatus.REFUNDED)
    assert Subscription.objects.get().status == SubscriptionStatus.CANCELED
    assert not TokenEntry.objects.filter(kind=EntryKind.REFUND).exists()
