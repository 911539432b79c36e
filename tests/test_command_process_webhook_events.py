"""``process_webhook_events``: stored events that are pending (or failed) processed in order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command

from fiko_billing.management.progress import format_table
from fiko_billing.models import (
    Charge,
    EventStatus,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
    WebhookEvent,
)
from fiko_billing.services.events import process_event, store_event
from fiko_billing.testing import payloads
from tests.stories import (
    Outage,
    Story,
    activated_subscription_ids,
    command_failure,
    command_output,
    processed_event_ids,
)

pytestmark = pytest.mark.django_db

T0 = int(datetime(2031, 3, 1, 12, 0, tzinfo=UTC).timestamp())
HEADERS = ["event", "type", "outcome", "attempts", "error"]
WAITING = "waiting: the payment of pi_1 is not recorded yet"


@pytest.fixture
def shop(db: None) -> Story:
    return Story("p", start=T0, tokens_per_period=10_000)


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch) -> Outage:
    """``charge.succeeded`` fails until ``outage.end()``."""
    return Outage(monkeypatch, "charge.succeeded")


def stored(event: dict[str, Any]) -> WebhookEvent:
    return store_event(event).event


def failed(event: dict[str, Any]) -> WebhookEvent:
    row = stored(event)
    assert process_event(row.pk) == "failed"
    row.refresh_from_db()
    return row


def run(*args: str) -> str:
    return command_output("process_webhook_events", *args)


def run_failing(*args: str) -> tuple[CommandError, str]:
    return command_failure("process_webhook_events", *args)


def state(event_id: str) -> tuple[str, int]:
    row = WebhookEvent.objects.get(stripe_event_id=event_id)
    return row.status, row.attempts


@pytest.fixture
def processed_order() -> Iterator[list[str]]:
    with processed_event_ids() as seen:
        yield seen


# --------------------------------------------------------------------------- pending


def test_pending_events_are_processed_oldest_first(
    shop, processed_order, django_capture_on_commit_callbacks
):
    # Stored newest first, as a backlog after an outage may be.
    stored(shop.subscription_event("deleted", event_id="evt_3", at=T0 + 20, status="canceled"))
    stored(shop.subscription_event("created", event_id="evt_1", at=T0))
    stored(
        shop.subscription_event("updated", event_id="evt_2", at=T0 + 10, cancel_at_period_end=True)
    )
    stored(payloads.event("product.created", payloads.product(), id="evt_0", created=T0 - 5))
    with (
        activated_subscription_ids() as activated,
        django_capture_on_commit_callbacks(execute=True),
    ):
        out = run()

    assert processed_order == ["evt_0", "evt_1", "evt_2", "evt_3"]
    assert out == (
        format_table(
            HEADERS,
            [
                ("evt_0", "product.created", "ignored", 1, ""),
                ("evt_1", "customer.subscription.created", "processed", 1, ""),
                ("evt_2", "customer.subscription.updated", "processed", 1, ""),
                ("evt_3", "customer.subscription.deleted", "processed", 1, ""),
            ],
        )
        + "\n4 event(s): 1 ignored, 3 processed.\n"
    )
    # Only the oldest-first order lets the created event activate the subscription
    # before the deletion ends it; the other way round it is never announced.
    assert activated == ["sub_p"]
    sub = Subscription.objects.get()
    assert (sub.status, sub.cancel_at_period_end) == (SubscriptionStatus.CANCELED, False)
    assert sub.stripe_state_at == datetime.fromtimestamp(T0 + 20, tz=UTC)


def test_limit_takes_the_oldest(shop):
    stored(shop.subscription_event("updated", event_id="evt_2", at=T0 + 10))
    stored(shop.subscription_event("created", event_id="evt_1", at=T0))

    out = run("--limit", "1")

    assert out.splitlines()[-1] == "1 event(s): 1 processed."
    assert (state("evt_1"), state("evt_2")) == (("processed", 1), ("pending", 0))


# --------------------------------------------------------------------------- failed


def test_failed_events_are_retried_only_with_failed(shop, outage):
    failed(shop.charge_event("evt_charge", at=T0))
    stored(shop.subscription_event("created", event_id="evt_sub", at=T0 + 5))

    out = run()

    assert out == (
        format_table(HEADERS, [("evt_sub", "customer.subscription.created", "processed", 1, "")])
        + "\n1 event(s): 1 processed.\n"
    )
    assert state("evt_charge") == (EventStatus.FAILED, 1)

    outage.end()
    out = run("--failed")

    assert out == (
        format_table(HEADERS, [("evt_charge", "charge.succeeded", "processed", 2, "")])
        + "\n1 event(s): 1 processed.\n"
    )
    assert state("evt_charge") == (EventStatus.PROCESSED, 2)
    assert Charge.objects.get().stripe_payment_intent_id == "pi_2"


def test_a_still_failing_event_fails_the_command_after_the_others(shop, outage):
    failed(shop.charge_event("evt_charge", at=T0))
    stored(shop.subscription_event("created", event_id="evt_sub", at=T0 + 5))

    error, out = run_failing("--failed")

    assert str(error) == "1 event(s) failed; see the error column."
    assert error.returncode == 1
    assert out == (
        format_table(
            HEADERS,
            [
                ("evt_charge", "charge.succeeded", "failed", 2, Outage.message[:60]),
                ("evt_sub", "customer.subscription.created", "processed", 1, ""),
            ],
        )
        + "\n2 event(s): 1 failed, 1 processed.\n"
    )
    row = WebhookEvent.objects.get(stripe_event_id="evt_charge")
    assert (row.status, row.attempts, row.failures, row.last_error) == (
        EventStatus.FAILED,
        2,
        2,
        Outage.message,
    )
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE


# --------------------------------------------------------------------------- waiting and dead


def test_a_waiting_event_is_pending_and_runs_when_its_payment_is_recorded(shop):
    checkout = shop.package_checkout()
    waiting = stored(shop.refund_event("evt_refund", at=T0))
    assert process_event(waiting.pk) == "waiting"

    out = run()  # still waiting: nothing failed

    assert out == (
        format_table(HEADERS, [("evt_refund", "refund.created", "waiting", 2, WAITING[:60])])
        + "\n1 event(s): 1 waiting.\n"
    )
    row = WebhookEvent.objects.get(stripe_event_id="evt_refund")
    assert (row.status, row.failures, row.waiting_for) == (
        EventStatus.PENDING,
        0,
        "payment_intent:pi_1",
    )
    # The refunded payment is recorded (here by hand): the next run processes it.
    checkout.status = PaymentStatus.SUCCEEDED
    checkout.stripe_payment_intent_id = "pi_1"
    checkout.credited_at = datetime(2031, 3, 1, tzinfo=UTC)
    checkout.save()
    assert run().splitlines()[-1] == "1 event(s): 1 processed."
    checkout.refresh_from_db()
    assert (checkout.status, checkout.amount_refunded) == (PaymentStatus.REFUNDED, 500)


def test_the_list_shows_waiting_failed_and_dead_events(shop, outage, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "WEBHOOK_MAX_FAILURES": 2}
    shop.package_checkout()
    assert process_event(stored(shop.refund_event("evt_refund", at=T0)).pk) == "waiting"
    failed(shop.charge_event("evt_charge", at=T0 + 1))
    dead = stored(
        payloads.event(
            "charge.succeeded",
            payloads.charge(id="ch_3", amount=500, payment_intent="pi_3"),
            id="evt_dead",
            created=T0 + 2,
        )
    )
    assert process_event(dead.pk) == "failed"
    assert process_event(dead.pk) == "dead"
    assert process_event(dead.pk) == "dead"  # set aside: not run again
    stored(shop.subscription_event("created", event_id="evt_sub", at=T0 + 3))

    out = run("--list")

    assert out == (
        format_table(
            ["event", "type", "state", "attempts", "failures", "detail"],
            [
                ("evt_refund", "refund.created", "waiting", 1, 0, "payment_intent:pi_1"),
                ("evt_charge", "charge.succeeded", "failed", 1, 1, Outage.message[:60]),
                ("evt_dead", "charge.succeeded", "dead", 2, 2, Outage.message[:60]),
                ("evt_sub", "customer.subscription.created", "pending", 0, 0, ""),
            ],
        )
        + "\n4 event(s) need attention.\n"
    )
    assert state("evt_dead") == (EventStatus.DEAD, 2)  # --list processes nothing


def test_dead_events_are_replayed_only_with_dead(shop, outage, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "WEBHOOK_MAX_FAILURES": 1}
    assert process_event(stored(shop.charge_event("evt_charge", at=T0)).pk) == "dead"
    outage.end()

    assert run("--failed") == "0 event(s): nothing to do.\n"
    out = run("--dead")

    assert out.splitlines()[-1] == "1 event(s): 1 processed."
    assert state("evt_charge") == (EventStatus.PROCESSED, 2)


def test_an_event_that_waited_too_long_is_set_aside(shop, settings):
    shop.package_checkout()
    row = stored(shop.refund_event("evt_refund", at=T0))
    assert process_event(row.pk) == "waiting"
    later = row.received_at + timedelta(days=3, seconds=1)
    with time_machine.travel(later, tick=False):
        error, out = run_failing()
    assert out.splitlines()[-1] == "1 event(s): 1 dead."
    assert str(error) == "1 event(s) failed; see the error column."
    row.refresh_from_db()
    assert (row.status, row.last_error) == (
        EventStatus.DEAD,
        "gave up waiting: the payment of pi_1 is not recorded yet",
    )


# --------------------------------------------------------------------------- one event


def test_event_option_processes_that_event_only(shop):
    stored(shop.subscription_event("created", event_id="evt_1", at=T0))
    stored(
        shop.subscription_event("updated", event_id="evt_2", at=T0 + 10, cancel_at_period_end=True)
    )

    out = run("--event", "evt_2")

    assert out == (
        format_table(HEADERS, [("evt_2", "customer.subscription.updated", "processed", 1, "")])
        + "\n1 event(s): 1 processed.\n"
    )
    assert (state("evt_1"), state("evt_2")) == (("pending", 0), ("processed", 1))
    assert Subscription.objects.get().cancel_at_period_end is True


def test_event_option_on_a_failed_event_retries_it(shop, outage):
    failed(shop.charge_event("evt_charge", at=T0))
    error, out = run_failing("--event", "evt_charge")
    assert str(error) == "1 event(s) failed; see the error column."
    assert out.splitlines()[-1] == "1 event(s): 1 failed."
    assert state("evt_charge") == (EventStatus.FAILED, 2)


def test_event_option_on_a_processed_event_does_not_run_it_again(shop):
    row = stored(shop.subscription_event("created", event_id="evt_1", at=T0))
    assert process_event(row.pk) == "processed"
    row.refresh_from_db()

    out = run("--event", "evt_1")

    assert out.splitlines()[-1] == "1 event(s): 1 duplicate."
    again = WebhookEvent.objects.get(pk=row.pk)
    assert (again.status, again.attempts, again.processed_at) == (
        EventStatus.PROCESSED,
        1,
        row.processed_at,
    )


def test_unknown_event_id_is_an_error(shop):
    stored(shop.subscription_event("created", event_id="evt_1", at=T0))
    error, out = run_failing("--event", "evt_nope")
    assert str(error) == "No stored event 'evt_nope'."
    assert out == ""
    assert state("evt_1") == ("pending", 0)


# --------------------------------------------------------------------------- done ones


def test_processed_and_ignored_events_are_not_run_again(shop):
    done = stored(shop.subscription_event("created", event_id="evt_1", at=T0))
    skipped = stored(payloads.event("product.created", payloads.product(), id="evt_p"))
    assert process_event(done.pk) == "processed"
    assert process_event(skipped.pk) == "ignored"
    before = list(WebhookEvent.objects.order_by("pk").values())

    out = run("--failed")

    assert out == "0 event(s): nothing to do.\n"
    assert list(WebhookEvent.objects.order_by("pk").values()) == before


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["0", "-1"])
def test_a_limit_below_one_is_refused(limit):
    with pytest.raises(CommandError, match="--limit must be 1 or more"):
        call_command("process_webhook_events", "--limit", limit)
