"""``sync_stripe_events``: replaying, oldest first, the events Stripe has and we lack."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError

from fiko_billing.models import EventStatus, Subscription, SubscriptionStatus, WebhookEvent
from fiko_billing.services.events import handled_event_types, store_event
from fiko_billing.testing import payloads
from tests.stories import (
    Outage,
    Story,
    activated_subscription_ids,
    command_failure,
    command_output,
    processed_event_ids,
)
from tests.stripe_stub import Recorded, StripeStub

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 10, 12, 0, tzinfo=UTC)
T0 = int((NOW - timedelta(days=2)).timestamp())


@pytest.fixture(autouse=True)
def clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


class Account(Story):
    """A subscriber with a Stripe customer and a synced plan; tells its subscription's life."""

    def __init__(self) -> None:
        super().__init__("s", start=T0, tokens_per_period=10_000)

    def lifecycle(self) -> list[dict[str, Any]]:
        """Created, updated twice, deleted: newest first, as Stripe lists events."""
        return [
            self.subscription_event("deleted", event_id="evt_4", at=T0 + 30, status="canceled"),
            self.subscription_event(
                "updated", event_id="evt_3", at=T0 + 20, cancel_at_period_end=True
            ),
            self.subscription_event("updated", event_id="evt_2", at=T0 + 10),
            self.subscription_event("created", event_id="evt_1", at=T0),
        ]


@pytest.fixture
def account(db: None) -> Account:
    return Account()


def serve(stub: StripeStub, events: list[dict[str, Any]], *, page_size: int) -> None:
    """``GET /v1/events`` pages through ``events`` of the ``types`` asked for, by
    ``starting_after``, as Stripe does."""

    def answer(request: Recorded) -> dict[str, Any]:
        types = {v for k, v in request.params.items() if k.startswith("types[")}
        chosen = [e for e in events if e["type"] in types]
        ids = [e["id"] for e in chosen]
        after = request.params.get("starting_after")
        start = 0 if after is None else ids.index(after) + 1
        page = chosen[start : start + page_size]
        return payloads.list_of(page, url="/v1/events", has_more=start + page_size < len(chosen))

    stub.on("GET", "/v1/events", answer)


def listing_params(since: datetime, part: int = 0, **extra: str) -> dict[str, str]:
    """The form parameters of one ``GET /v1/events`` as the SDK encodes them.

    Stripe takes at most 20 ``types`` at once: ``part`` is which 20.
    """
    params = {"created[gte]": str(int(since.timestamp())), "limit": "100"}
    names = handled_event_types()[20 * part : 20 * (part + 1)]
    params.update({f"types[{i}]": name for i, name in enumerate(names)})
    params.update(extra)
    return params


def run(*args: str) -> str:
    return command_output("sync_stripe_events", *args)


def run_failing(*args: str) -> tuple[CommandError, str]:
    return command_failure("sync_stripe_events", *args)


@pytest.fixture
def processed_order() -> Iterator[list[str]]:
    with processed_event_ids() as seen:
        yield seen


# --------------------------------------------------------------------------- the listing


def test_lists_handled_types_since_and_follows_pages(account, stripe_stub):
    serve(stripe_stub, account.lifecycle(), page_size=3)

    run("--since", "3d")

    since = NOW - timedelta(days=3)
    assert [(r.method, r.path, r.params) for r in stripe_stub.requests] == [
        ("GET", "/v1/events", listing_params(since)),
        ("GET", "/v1/events", listing_params(since, starting_after="evt_2")),
        ("GET", "/v1/events", listing_params(since, part=1)),
    ]
    assert len(handled_event_types()) <= 40  # two listings cover them
    # The handled types are the ones the registry dispatches, and no others.
    assert "customer.subscription.deleted" in handled_event_types()
    assert "product.created" not in handled_event_types()


@pytest.mark.parametrize(
    ("since", "delta"),
    [
        ("45m", timedelta(minutes=45)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
    ],
)
def test_since_units(account, stripe_stub, since, delta):
    serve(stripe_stub, [], page_size=100)
    out = run("--since", since)
    assert [r.params for r in stripe_stub.requests] == [
        listing_params(NOW - delta),
        listing_params(NOW - delta, part=1),
    ]
    assert out == (
        f"0 event(s) at Stripe since {NOW - delta:%Y-%m-%d %H:%M} UTC; 0 stored: none missing.\n"
    )


def test_since_defaults_to_three_days(account, stripe_stub):
    serve(stripe_stub, [], page_size=100)
    run()
    assert stripe_stub.requests[0].params == listing_params(NOW - timedelta(days=3))


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("3x", "--since must look like 30m, 12h or 3d, not '3x'."),
        ("-3d", "--since must look like 30m, 12h or 3d, not '-3d'."),
        ("3", "--since must look like 30m, 12h or 3d, not '3'."),
        ("31d", "--since can reach back 30 days at most (Stripe keeps events 30 days)."),
        ("721h", "--since can reach back 30 days at most (Stripe keeps events 30 days)."),
    ],
)
def test_bad_since_is_refused_without_calling_stripe(account, stripe_stub, since, message):
    error, out = run_failing(f"--since={since}")
    assert str(error) == message
    assert out == ""
    assert stripe_stub.requests == []


# --------------------------------------------------------------------------- replaying


def test_stores_and_processes_only_missing_events_oldest_first(
    account, stripe_stub, processed_order, django_capture_on_commit_callbacks
):
    events = account.lifecycle()
    known = store_event(events[2]).event  # evt_2 arrived by webhook and waits in the queue
    serve(stripe_stub, events, page_size=2)
    with (
        activated_subscription_ids() as activated,
        django_capture_on_commit_callbacks(execute=True),
    ):
        out = run("--since", "3d")

    assert out == "4 event(s) at Stripe since 2031-03-07 12:00 UTC; 3 stored: 3 processed.\n"
    assert processed_order == ["evt_1", "evt_3", "evt_4"]
    # Created first, so the subscription was announced active before it ended.
    assert activated == ["sub_s"]
    sub = Subscription.objects.get()
    assert sub.status == SubscriptionStatus.CANCELED
    assert sub.stripe_state_at == datetime.fromtimestamp(T0 + 30, tz=UTC)
    rows = dict(WebhookEvent.objects.values_list("stripe_event_id", "status"))
    assert rows == {
        "evt_1": EventStatus.PROCESSED,
        "evt_2": EventStatus.PENDING,
        "evt_3": EventStatus.PROCESSED,
        "evt_4": EventStatus.PROCESSED,
    }
    known.refresh_from_db()
    assert (known.attempts, known.payload) == (0, events[2])
    assert WebhookEvent.objects.get(stripe_event_id="evt_4").payload == events[0]


def test_a_second_sync_finds_nothing_missing(account, stripe_stub):
    serve(stripe_stub, account.lifecycle(), page_size=100)
    run()
    before = list(WebhookEvent.objects.order_by("pk").values())

    out = run()

    assert out == "4 event(s) at Stripe since 2031-03-07 12:00 UTC; 0 stored: none missing.\n"
    assert list(WebhookEvent.objects.order_by("pk").values()) == before


def test_dry_run_counts_and_stores_nothing(account, stripe_stub):
    events = account.lifecycle()
    store_event(events[3])
    serve(stripe_stub, events, page_size=2)

    out = run("--dry-run", "--since", "3d")

    assert out == "Dry run: 4 event(s) at Stripe since 2031-03-07 12:00 UTC, 3 never received.\n"
    assert list(WebhookEvent.objects.values_list("stripe_event_id", "status")) == [
        ("evt_1", EventStatus.PENDING)
    ]
    assert Subscription.objects.count() == 0
    assert len(stripe_stub.requests) == 3  # two pages of the first 20 types, one of the rest


def test_a_failing_event_fails_the_command_after_the_others(account, stripe_stub, monkeypatch):
    Outage(monkeypatch, "charge.succeeded")
    charge = account.charge_event("evt_charge", at=T0 + 5)
    events = account.lifecycle()
    serve(stripe_stub, [events[0], charge, *events[1:]], page_size=100)

    error, out = run_failing()

    assert str(error) == "1 event(s) failed: evt_charge"
    assert error.returncode == 1
    assert out == (
        "5 event(s) at Stripe since 2031-03-07 12:00 UTC; 5 stored: 1 failed, 4 processed.\n"
    )
    failed = WebhookEvent.objects.get(stripe_event_id="evt_charge")
    assert (failed.status, failed.attempts) == (EventStatus.FAILED, 1)
    assert Subscription.objects.get().status == SubscriptionStatus.CANCELED


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            500,
            payloads.error("An unknown error occurred", type="api_error"),
            "Stripe failed: An unknown error occurred (request req_stub000001)",
        ),
        (
            401,
            payloads.error("Invalid API Key provided: sk_test_****fiko"),
            "Stripe failed: Invalid API Key provided: sk_test_****fiko (request req_stub000001)",
        ),
    ],
)
def test_stripe_failure_names_the_request(account, stripe_stub, status, body, message):
    stripe_stub.on("GET", "/v1/events", body, status=status)

    error, out = run_failing()

    assert str(error) == message
    assert out == ""
    assert WebhookEvent.objects.count() == 0


def test_a_failure_on_a_later_page_stores_nothing(account, stripe_stub):
    events = account.lifecycle()
    serve(stripe_stub, events, page_size=2)
    stripe_stub.on(
        "GET",
        "/v1/events",
        lambda r: (
            (500, payloads.error("Try again", type="api_error"))
            if r.params.get("starting_after")
            else (200, payloads.list_of(events[:2], url="/v1/events", has_more=True))
        ),
    )

    error, _out = run_failing()

    assert str(error) == "Stripe failed: Try again (request req_stub000002)"
    assert WebhookEvent.objects.count() == 0


def test_an_event_set_aside_fails_the_command_too(account, stripe_stub, monkeypatch, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "WEBHOOK_MAX_FAILURES": 1}
    Outage(monkeypatch, "charge.succeeded")
    serve(stripe_stub, [account.charge_event("evt_charge", at=T0 + 5)], page_size=100)

    error, _out = run_failing()

    assert str(error) == "1 event(s) failed: evt_charge"
    assert WebhookEvent.objects.get().status == EventStatus.DEAD
