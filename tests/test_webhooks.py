"""The webhook pipeline: storage, dedupe, each handler, ordering and failures."""

from __future__ import annotations

import time
from typing import Any

import pytest

from fiko_billing import signals, tokens
from fiko_billing.models import (
    Customer,
    EntryKind,
    EventStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
    TokenEntry,
    WebhookEvent,
)
from fiko_billing.services.events import registry
from fiko_billing.testing import payloads
from fiko_billing.testing.webhooks import post_event
from tests import stripe_shapes
from tests.factories import PackagePriceFactory, PaymentFactory
from tests.stories import DAY, Story, recorded
from tests.webhook_cases import WebhookSecurityCases


class World(Story):
    """One subscriber with a Stripe customer, a synced monthly plan of 1,000 tokens, and events."""

    def __init__(self) -> None:
        super().__init__(
            "w", plan_suffix="m", start=int(time.time()) - 60, tokens_per_period=1_000
        )


@pytest.fixture
def world(db: None) -> World:
    return World()


def deliver(event: dict[str, Any]) -> Any:
    response = post_event(event)
    assert response.status_code in (200, 500), response.content
    return response


def balance_is_sum_of_entries(subscriber: Any) -> bool:
    entries = TokenEntry.objects.filter(account__subscriber=subscriber)
    stored = subscriber.token_account.balance if entries.exists() else 0
    return stored == sum(e.amount for e in entries)


class TestSignature(WebhookSecurityCases):
    def make_event(self) -> dict[str, Any]:
        return payloads.event("product.created", payloads.product())


@pytest.mark.django_db
def test_unhandled_type_is_stored_as_ignored_and_answered_200():
    response = post_event(payloads.event("product.created", payloads.product(), id="evt_p"))
    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "ignored"}
    event = WebhookEvent.objects.get()
    assert (event.stripe_event_id, event.status, event.attempts) == (
        "evt_p",
        EventStatus.IGNORED,
        1,
    )


@pytest.mark.django_db
def test_duplicate_delivery_is_processed_once(world):
    event = world.invoice_event(
        "paid", "in_1", start=world.t0, reason="subscription_create", at=world.t0
    )
    assert deliver(event).json()["outcome"] == "processed"
    assert deliver(event).json()["outcome"] == "duplicate"
    assert WebhookEvent.objects.count() == 1
    assert tokens.balance(world.subscriber) == 1_000
    assert TokenEntry.objects.count() == 1


@pytest.mark.django_db
def test_every_event_logs_one_line(world, caplog):
    event = world.subscription_event("created", at=world.t0)
    with caplog.at_level("INFO", logger="fiko_billing.webhooks"):
        deliver(event)
    lines = [r.getMessage() for r in caplog.records if r.name == "fiko_billing.webhooks"]
    assert len(lines) == 1
    assert lines[0].startswith(
        f"webhook event {event['id']} type=customer.subscription.created outcome=processed"
    )
    assert "duration_ms=" in lines[0]


@pytest.mark.django_db
def test_other_api_version_is_processed_and_logged(world, caplog):
    event = world.subscription_event("created", at=world.t0)
    event["api_version"] = "2025-01-27.acacia"
    with caplog.at_level("WARNING", logger="fiko_billing.webhooks"):
        assert deliver(event).json()["outcome"] == "processed"
    assert "2025-01-27.acacia" in caplog.text
    assert Subscription.objects.get().status == "active"


@pytest.mark.django_db
def test_old_shape_period_on_the_subscription_is_read(world):
    sub = world.subscription()
    for item in sub["items"]["data"]:
        item.pop("current_period_start")
        item.pop("current_period_end")
    sub["current_period_start"], sub["current_period_end"] = world.t0, world.t0 + 30 * DAY
    old = payloads.event(
        "customer.subscription.created", sub, created=world.t0, api_version="2024-06-20"
    )
    assert post_event(old, conforming=False).status_code == 200  # not today's shape, on purpose
    assert int(Subscription.objects.get().current_period_end.timestamp()) == world.t0 + 30 * DAY


@pytest.mark.django_db
def test_failing_handler_rolls_back_records_the_error_and_a_retry_succeeds(world, monkeypatch):
    original = registry.handlers._ours["invoice.paid"]
    calls = {"n": 0}

    def flaky(obj, event):
        original(obj, event)  # writes the grant, then fails: the grant must vanish
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database hiccup")

    monkeypatch.setitem(registry.handlers._ours, "invoice.paid", flaky)
    event = world.invoice_event(
        "paid", "in_1", start=world.t0, reason="subscription_create", at=world.t0
    )

    first = deliver(event)
    assert first.status_code == 500
    assert first.json()["error"]["code"] == "processing_failed"
    stored = WebhookEvent.objects.get()
    assert (stored.status, stored.attempts) == (EventStatus.FAILED, 1)
    assert stored.last_error == "RuntimeError: database hiccup"
    assert TokenEntry.objects.count() == 0
    assert tokens.balance(world.subscriber) == 0

    second = deliver(event)
    assert second.status_code == 200
    stored.refresh_from_db()
    assert (stored.status, stored.attempts, stored.last_error) == (EventStatus.PROCESSED, 2, "")
    assert tokens.balance(world.subscriber) == 1_000


@pytest.mark.django_db
def test_signals_are_sent_after_commit_for_every_event(world, django_capture_on_commit_callbacks):
    event = world.subscription_event("created", at=world.t0)
    pick = lambda kw: (kw["event"].stripe_event_id, kw["outcome"])  # noqa: E731
    with (
        recorded(signals.webhook_event_processed, pick) as received,
        django_capture_on_commit_callbacks(execute=True),
    ):
        deliver(event)
    assert received == [(event["id"], "processed")]


# ---------------------------------------------------------------- subscriptions and ordering


@pytest.mark.django_db
@pytest.mark.parametrize(
    "order",
    [
        ("created", "updated", "deleted"),
        ("updated", "created", "deleted"),
        ("deleted", "updated", "created"),
        ("created", "deleted", "updated"),
        ("deleted", "created", "updated"),
    ],
)
def test_any_delivery_order_ends_in_the_newest_state(world, order):
    t = world.t0
    events = {
        "created": world.subscription_event("created", at=t, status="incomplete"),
        "updated": world.subscription_event("updated", at=t + 10, cancel_at_period_end=True),
        "deleted": world.subscription_event(
            "deleted", at=t + 20, status="canceled", ended_at=t + 20
        ),
    }
    for name in order:
        deliver(events[name])
    row = Subscription.objects.get()
    assert row.status == SubscriptionStatus.CANCELED
    assert row.stripe_state_at.timestamp() == t + 20


@pytest.mark.django_db
def test_an_old_update_after_deleted_does_not_resurrect(world):
    t = world.t0
    deliver(world.subscription_event("deleted", at=t + 20, status="canceled"))
    deliver(world.subscription_event("updated", at=t + 30, status="active"))  # even a later stamp
    assert Subscription.objects.get().status == SubscriptionStatus.CANCELED


@pytest.mark.django_db
def test_same_second_events_do_not_step_back_in_the_lifecycle(world):
    t = world.t0
    deliver(world.subscription_event("updated", at=t, status="active"))
    deliver(world.subscription_event("created", at=t, status="incomplete"))
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE


@pytest.mark.django_db
def test_subscription_signals(world, django_capture_on_commit_callbacks):
    t = world.t0
    ids = lambda kw: kw["subscription"].stripe_subscription_id  # noqa: E731
    with (
        recorded(signals.subscription_activated, ids) as activated,
        recorded(signals.subscription_cancellation_scheduled, ids) as canceling,
        recorded(signals.subscription_deactivated, ids) as deactivated,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            deliver(world.subscription_event("created", at=t))
        assert (activated, canceling, deactivated) == (["sub_w"], [], [])
        with django_capture_on_commit_callbacks(execute=True):
            deliver(world.subscription_event("updated", at=t + 1, cancel_at_period_end=True))
        assert (activated, canceling, deactivated) == (["sub_w"], ["sub_w"], [])
        with django_capture_on_commit_callbacks(execute=True):
            deliver(world.subscription_event("deleted", at=t + 2, status="canceled"))
        assert (activated, canceling, deactivated) == (["sub_w"], ["sub_w"], ["sub_w"])


@pytest.mark.django_db
def test_subscription_of_an_unknown_customer_is_skipped(db):
    price = payloads.price(product_id="prod_x", unit_amount=1, interval="month")
    sub = payloads.subscription(customer_id="cus_nobody", price_obj=price)
    assert (
        deliver(payloads.event("customer.subscription.created", sub)).json()["outcome"]
        == "processed"
    )
    assert Subscription.objects.count() == 0


# ---------------------------------------------------------------- invoices


@pytest.mark.django_db
def test_invoice_paid_grants_the_period_expiring_at_its_end(world):
    deliver(
        world.invoice_event(
            "paid", "in_1", start=world.t0, reason="subscription_create", at=world.t0
        )
    )
    grant = TokenEntry.objects.get()
    assert (grant.kind, grant.amount, grant.reference) == (EntryKind.GRANT, 1_000, "invoice:in_1")
    assert int(grant.expires_at.timestamp()) == world.t0 + 30 * DAY


@pytest.mark.django_db
def test_token_rollover_grants_without_expiry(world, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "TOKEN_ROLLOVER": True}
    deliver(
        world.invoice_event(
            "paid", "in_1", start=world.t0, reason="subscription_create", at=world.t0
        )
    )
    assert TokenEntry.objects.get().expires_at is None


@pytest.mark.django_db
def test_a_manual_invoice_grants_nothing(world):
    deliver(world.invoice_event("paid", "in_m", start=world.t0, reason="manual", at=world.t0))
    assert TokenEntry.objects.count() == 0


@pytest.mark.django_db
def test_recurring_package_invoice_credits_its_tokens(world):
    PackagePriceFactory(
        stripe_price_id="price_rp",
        package__tokens=250,
        package__interval="month",
        package__stripe_product_id="prod_rp",
    )
    stripe_price = payloads.price(
        id="price_rp", product_id="prod_rp", unit_amount=100, interval="month"
    )
    invoice = payloads.invoice(
        id="in_rp",
        customer_id="cus_w",
        subscription_id="sub_rp",
        price_obj=stripe_price,
        billing_reason="subscription_cycle",
        quantity=2,
    )
    deliver(payloads.event("invoice.paid", invoice))
    entry = TokenEntry.objects.get()
    assert (entry.kind, entry.amount, entry.expires_at) == (EntryKind.PURCHASE, 500, None)


@pytest.mark.django_db
def test_renewal_records_a_payment_and_grants_again(world):
    t = world.t0
    deliver(world.subscription_event("created", at=t))
    deliver(world.invoice_event("paid", "in_1", start=t, reason="subscription_create", at=t))
    deliver(
        world.invoice_event(
            "paid", "in_2", start=t + 30 * DAY, reason="subscription_cycle", at=t + 1
        )
    )
    renewal = Payment.objects.get(kind=PaymentKind.RENEWAL)
    assert (renewal.stripe_invoice_id, renewal.status, renewal.amount, renewal.tokens) == (
        "in_2",
        PaymentStatus.SUCCEEDED,
        500,
        1_000,
    )
    assert tokens.balance(world.subscriber) == 2_000
    assert balance_is_sum_of_entries(world.subscriber)


@pytest.mark.django_db
def test_payment_failed_marks_past_due_and_signals(world, django_capture_on_commit_callbacks):
    t = world.t0
    deliver(world.subscription_event("created", at=t))
    with (
        recorded(signals.payment_failed, lambda kw: kw["reason"]) as failures,
        django_capture_on_commit_callbacks(execute=True),
    ):
        deliver(
            world.invoice_event(
                "payment_failed",
                "in_2",
                start=t + 30 * DAY,
                reason="subscription_cycle",
                at=t + 5,
            )
        )
    assert Subscription.objects.get().status == SubscriptionStatus.PAST_DUE
    assert Payment.objects.get(stripe_invoice_id="in_2").status == PaymentStatus.FAILED
    assert failures == ["invoice.payment_failed"]


@pytest.mark.django_db
def test_action_required_records_the_hosted_invoice_url(world, django_capture_on_commit_callbacks):
    t = world.t0
    deliver(world.subscription_event("created", at=t))
    with (
        recorded(signals.payment_action_required, lambda kw: kw["hosted_invoice_url"]) as urls,
        django_capture_on_commit_callbacks(execute=True),
    ):
        deliver(
            world.invoice_event(
                "payment_action_required",
                "in_3",
                start=t,
                reason="subscription_cycle",
                at=t + 1,
            )
        )
    payment = Payment.objects.get(stripe_invoice_id="in_3")
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment.hosted_invoice_url == "https://invoice.stripe.com/i/in_3"
    assert urls == ["https://invoice.stripe.com/i/in_3"]


# ---------------------------------------------------------------- checkout, refunds, disputes


@pytest.fixture
def package_purchase(world):
    price = PackagePriceFactory(stripe_price_id="price_pk", package__tokens=1_000)
    payment = PaymentFactory(
        subscriber=world.subscriber,
        package=price.package,
        amount=1_000,
        tokens=1_000,
        stripe_checkout_session_id="cs_test_pk",
    )
    session = payloads.checkout_session(
        id="cs_test_pk",
        mode="payment",
        status="complete",
        payment_status="paid",
        customer_id="cus_w",
        amount_total=1_000,
        payment_intent="pi_pk",
    )
    return payment, session


@pytest.mark.django_db
def test_checkout_completed_fulfils_once(world, package_purchase):
    payment, session = package_purchase
    event = payloads.event("checkout.session.completed", session)
    deliver(event)
    deliver(payloads.event("checkout.session.completed", session))  # a second, distinct event
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert tokens.balance(world.subscriber) == 1_000


@pytest.mark.django_db
def test_async_payment_failed_marks_the_payment_failed(world, package_purchase):
    payment, session = package_purchase
    session["payment_status"] = "unpaid"
    deliver(payloads.event("checkout.session.completed", session))
    deliver(payloads.event("checkout.session.async_payment_failed", session))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert tokens.balance(world.subscriber) == 0


@pytest.mark.django_db
def test_checkout_expired_marks_the_payment_expired(world, package_purchase):
    payment, session = package_purchase
    session.update(status="expired", payment_status="unpaid")
    deliver(payloads.event("checkout.session.expired", session))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.EXPIRED


@pytest.mark.django_db
def test_partial_then_full_refund_takes_back_the_share_once(world, package_purchase):
    payment, session = package_purchase
    deliver(payloads.event("checkout.session.completed", session))
    tokens.consume(world.subscriber, 100)
    charge = payloads.charge(id="ch_1", amount=1_000, payment_intent="pi_pk", customer="cus_w")
    partial = stripe_shapes.refund(charge=charge, amount=250, refund_id="re_1")
    rest = stripe_shapes.refund(charge=charge, amount=750, refund_id="re_2")
    deliver(payloads.event("refund.created", partial))
    assert tokens.balance(world.subscriber) == 900 - 250
    deliver(payloads.event("refund.created", rest))
    deliver(payloads.event("refund.updated", partial))  # again, later: no effect
    assert tokens.balance(world.subscriber) == -100  # the spent 100 became a debt
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 1_000)
    with pytest.raises(tokens.InsufficientTokens):
        tokens.consume(world.subscriber, 1)
    assert balance_is_sum_of_entries(world.subscriber)


@pytest.mark.django_db
def test_refund_before_fulfilment_waits_then_runs_when_the_payment_arrives(
    world, package_purchase, caplog
):
    _payment, session = package_purchase
    charge = payloads.charge(
        id="ch_early",
        amount=1_000,
        payment_intent="pi_pk",
        customer="cus_w",
        metadata={"fiko_subscriber": str(world.subscriber.pk)},
    )
    early = payloads.event(
        "refund.created", stripe_shapes.refund(charge=charge, amount=1_000), id="evt_refund"
    )
    with caplog.at_level("INFO", logger="fiko_billing.webhooks"):
        first = deliver(early)
    assert (first.status_code, first.json()["outcome"]) == (200, "waiting")
    stored = WebhookEvent.objects.get(stripe_event_id="evt_refund")
    assert (stored.status, stored.waiting_for) == (EventStatus.PENDING, "payment_intent:pi_pk")
    assert not [r for r in caplog.records if r.exc_info]  # a wait is no error
    # The payment arrives: the refund runs at once, in the same transaction.
    deliver(payloads.event("checkout.session.completed", session))
    stored.refresh_from_db()
    assert (stored.status, stored.waiting_for) == (EventStatus.PROCESSED, "")
    assert tokens.balance(world.subscriber) == 0
    assert deliver(early).json()["outcome"] == "duplicate"


@pytest.mark.django_db
def test_dispute_is_recorded_and_signalled(
    world, package_purchase, django_capture_on_commit_callbacks
):
    payment, session = package_purchase
    deliver(payloads.event("checkout.session.completed", session))
    with (
        recorded(signals.payment_disputed, lambda kw: kw["reason"]) as disputes,
        django_capture_on_commit_callbacks(execute=True),
    ):
        deliver(
            payloads.event(
                "charge.dispute.created",
                payloads.dispute(charge_id="ch_x", amount=1_000, payment_intent="pi_pk"),
            )
        )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.DISPUTED
    assert disputes == ["fraudulent"]


@pytest.mark.django_db
def test_customer_deleted_unlinks_and_keeps_history(world, package_purchase):
    _payment, session = package_purchase
    deliver(payloads.event("checkout.session.completed", session))
    deliver(payloads.event("customer.deleted", payloads.deleted_customer("cus_w")))
    customer = Customer.objects.get(pk=world.customer.pk)
    assert customer.stripe_customer_id is None
    assert customer.deleted_at is not None
    assert Payment.objects.filter(subscriber=world.subscriber).count() == 1
    assert tokens.balance(world.subscriber) == 1_000


# ---------------------------------------------------------------- a whole life


@pytest.mark.django_db
def test_full_lifecycle_with_the_ledger_checked_at_each_step(world):
    t = world.t0
    s = world.subscriber
    period2 = t + 30 * DAY

    deliver(world.subscription_event("created", at=t, status="incomplete"))
    deliver(world.invoice_event("paid", "in_1", start=t, reason="subscription_create", at=t + 1))
    deliver(world.subscription_event("updated", at=t + 1, status="active"))
    assert Subscription.objects.get().status == "active"
    assert tokens.balance(s) == 1_000
    tokens.consume(s, 400)

    # Renewal: new period, new allowance (the old one expires at its period end).
    deliver(world.subscription_event("updated", at=t + 2, start=period2))
    deliver(
        world.invoice_event("paid", "in_2", start=period2, reason="subscription_cycle", at=t + 2)
    )
    assert tokens.balance(s) == 600 + 1_000

    # Next renewal fails: past due, no tokens.
    deliver(
        world.invoice_event(
            "payment_failed",
            "in_3",
            start=period2 + 30 * DAY,
            reason="subscription_cycle",
            at=t + 3,
        )
    )
    assert Subscription.objects.get().status == "past_due"
    assert tokens.balance(s) == 1_600

    # Recovered: paid and active again.
    deliver(
        world.invoice_event(
            "paid", "in_3", start=period2 + 30 * DAY, reason="subscription_cycle", at=t + 4
        )
    )
    deliver(world.subscription_event("updated", at=t + 4, start=period2))
    assert Subscription.objects.get().status == "active"
    assert Payment.objects.get(stripe_invoice_id="in_3").status == PaymentStatus.SUCCEEDED
    assert tokens.balance(s) == 2_600

    # Cancel at period end, then deleted.
    deliver(
        world.subscription_event("updated", at=t + 5, start=period2, cancel_at_period_end=True)
    )
    assert Subscription.objects.get().cancel_at_period_end is True
    deliver(
        world.subscription_event(
            "deleted", at=t + 6, start=period2, status="canceled", ended_at=t + 6
        )
    )
    row = Subscription.objects.get()
    assert row.status == "canceled"
    assert not row.is_entitled
    assert balance_is_sum_of_entries(s)
    assert WebhookEvent.objects.exclude(status=EventStatus.PROCESSED).count() == 0


@pytest.mark.django_db
def test_an_event_of_the_same_second_as_an_api_read_is_applied(world):
    """API answers are stamped at whole seconds, as events are: a tie, not 'older'."""
    import time_machine

    from fiko_billing.services.subscriptions import _apply

    t = world.t0
    deliver(world.subscription_event("created", at=t))
    with time_machine.travel(t + 5.6, tick=False):
        _apply(world.subscription())  # e.g. the answer to a resume, at t+5.6 s
    # A cancellation in the same second, after that read: Stripe's event says
    # what it changed, from the state the answer showed.
    deliver(
        world.subscription_event(
            "updated",
            at=t + 5,
            cancel_at_period_end=True,
            previous_attributes={"cancel_at_period_end": False},
        )
    )
    assert Subscription.objects.get().cancel_at_period_end is True
