"""``check_subscription_status``: ending the subscriptions whose period is over.

Time stands still at ``NOW``; each subscription's period ended a given number
of days before it. Stripe is the scripted local server of ``stripe_stub`` (the
real SDK talks to it), or a closed port, or not asked at all.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fiko_billing import signals, tokens
from fiko_billing.management.progress import format_table
from fiko_billing.models import (
    EntryKind,
    Price,
    Subscription,
    SubscriptionStatus,
    TokenAccount,
    TokenEntry,
)
from fiko_billing.testing import payloads
from tests.factories import PlanPriceFactory, SubscriptionFactory
from tests.stripe_stub import Recorded, StripeStub

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PERIOD = 30 * DAY
TABLE_HEADERS = ["subscription", "subscriber", "status", "period end", "action", "detail"]


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def price(db: None) -> Price:
    return PlanPriceFactory(
        stripe_price_id="price_m", plan__stripe_product_id="prod_m", plan__tokens_per_period=1_000
    )


def overdue(
    sub_id: str, price: Price, *, ended_days_ago: float | None, status: str = "active"
) -> Subscription:
    """A subscription whose period ended ``ended_days_ago`` days before NOW."""
    end = None if ended_days_ago is None else NOW - ended_days_ago * DAY
    return SubscriptionFactory(
        stripe_subscription_id=sub_id,
        customer__stripe_customer_id=f"cus_{sub_id}",
        plan=price.plan,
        price=price,
        status=status,
        current_period_start=None if end is None else end - PERIOD,
        current_period_end=end,
    )


def remote(sub: Subscription, *, status: str, start: datetime, **fields: Any) -> dict[str, Any]:
    """Stripe's answer for ``sub``: its status and one monthly period from ``start``."""
    stripe_price = payloads.price(
        id="price_m", product_id="prod_m", unit_amount=500, interval="month"
    )
    return payloads.subscription(
        id=sub.stripe_subscription_id,
        customer_id=sub.customer.stripe_customer_id,
        price_obj=stripe_price,
        status=status,
        start=int(start.timestamp()),
        end=int((start + PERIOD).timestamp()),
        **fields,
    )


def canceled_at_period_end(sub: Subscription) -> dict[str, Any]:
    end = int(sub.current_period_end.timestamp())
    return remote(
        sub, status="canceled", start=sub.current_period_start, canceled_at=end, ended_at=end
    )


def renewed(sub: Subscription) -> dict[str, Any]:
    return remote(sub, status="active", start=sub.current_period_end)


def missing(sub_id: str) -> tuple[int, dict[str, Any]]:
    return 404, payloads.error(
        f"No such subscription: '{sub_id}'", code="resource_missing", param="id"
    )


def route(stub: StripeStub, answers: dict[str, Any]) -> None:
    """GET /v1/subscriptions/<id> answered from ``answers`` (a body or ``(status, body)``)."""

    def answer(request: Recorded) -> Any:
        return answers[request.path.rsplit("/", 1)[1]]

    stub.on("GET", r"/v1/subscriptions/(\w+)", answer)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("check_subscription_status", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: str) -> tuple[CommandError, str]:
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("check_subscription_status", *args, stdout=out, stderr=io.StringIO())
    return raised.value, out.getvalue()


def statuses() -> dict[str, str]:
    return dict(Subscription.objects.values_list("stripe_subscription_id", "status"))


def row(sub: Subscription, action: str, detail: str = "") -> tuple[str, ...]:
    assert sub.current_period_end is not None
    return (
        sub.stripe_subscription_id,
        str(sub.subscriber_id),
        sub.status,
        sub.current_period_end.isoformat(),
        action,
        detail,
    )


def table(*rows: tuple[str, ...]) -> str:
    return format_table(TABLE_HEADERS, rows)


@pytest.fixture
def deactivations() -> Iterator[list[tuple[str, str]]]:
    received: list[tuple[str, str]] = []

    def receiver(sender: Any, subscription: Subscription, reason: str, **kwargs: Any) -> None:
        received.append((subscription.stripe_subscription_id, reason))

    signals.subscription_deactivated.connect(receiver)
    yield received
    signals.subscription_deactivated.disconnect(receiver)


# --------------------------------------------------------------------------- which rows


def test_only_entitled_subscriptions_past_the_grace_are_deactivated(price):
    overdue("sub_active", price, ended_days_ago=4)
    overdue("sub_trial", price, ended_days_ago=4, status="trialing")
    overdue("sub_past_due", price, ended_days_ago=40, status="past_due")
    overdue("sub_in_grace", price, ended_days_ago=2.9)
    overdue("sub_future", price, ended_days_ago=-20)
    overdue("sub_no_period", price, ended_days_ago=None)
    for status in ("canceled", "unpaid", "paused", "incomplete", "incomplete_expired"):
        overdue(f"sub_{status}", price, ended_days_ago=40, status=status)

    out, _err = run("--no-stripe")

    assert out.splitlines()[-1] == "3 overdue subscription(s) examined: 3 deactivated."
    assert statuses() == {
        "sub_active": "canceled",
        "sub_trial": "canceled",
        "sub_past_due": "canceled",
        "sub_in_grace": "active",
        "sub_future": "active",
        "sub_no_period": "active",
        "sub_canceled": "canceled",
        "sub_unpaid": "unpaid",
        "sub_paused": "paused",
        "sub_incomplete": "incomplete",
        "sub_incomplete_expired": "incomplete_expired",
    }
    ended = Subscription.objects.get(stripe_subscription_id="sub_active")
    assert (ended.ended_at, ended.stripe_state_at) == (NOW - 4 * DAY, NOW)


@pytest.mark.parametrize(
    ("args", "grace_setting", "expected"),
    [
        ((), None, ("canceled", "active", "active")),
        (("--grace-days", "1"), None, ("canceled", "canceled", "active")),
        (("--grace-days", "0"), None, ("canceled", "canceled", "canceled")),
        ((), 5, ("active", "active", "active")),
        (("--grace-days", "3"), 5, ("canceled", "active", "active")),
    ],
)
def test_grace_days_from_the_option_or_the_setting(price, settings, args, grace_setting, expected):
    """``expected``: the statuses of periods ended 4 days, 2 days and 6 hours ago."""
    if grace_setting is not None:
        settings.FIKO_BILLING = {**settings.FIKO_BILLING, "GRACE_PERIOD_DAYS": grace_setting}
    overdue("sub_4d", price, ended_days_ago=4)
    overdue("sub_2d", price, ended_days_ago=2)
    overdue("sub_6h", price, ended_days_ago=0.25)

    run("--no-stripe", *args)

    found = statuses()
    assert (found["sub_4d"], found["sub_2d"], found["sub_6h"]) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--grace-days", "-1"), "--grace-days must be zero or more."),
        (("--batch-size", "0"), "--batch-size must be 1 or more."),
    ],
)
def test_invalid_options_are_refused_before_any_change(price, stripe_stub, args, message):
    overdue("sub_1", price, ended_days_ago=40)
    error, out = run_failing(*args)
    assert str(error) == message
    assert out == ""
    assert statuses() == {"sub_1": "active"}
    assert stripe_stub.requests == []


# --------------------------------------------------------------------------- Stripe's word


def test_stripe_says_canceled_deactivates_and_expires_the_periods_tokens(
    price, stripe_stub, deactivations, django_capture_on_commit_callbacks
):
    sub = overdue("sub_1", price, ended_days_ago=4)
    subscriber = sub.subscriber
    with time_machine.travel(sub.current_period_start, tick=False):
        grant = tokens.credit(
            subscriber,
            1_000,
            kind=EntryKind.GRANT,
            reference="invoice:in_1",
            expires_at=sub.current_period_end,
        )
        tokens.credit(subscriber, 50, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    assert TokenAccount.objects.get(subscriber_id=subscriber.pk).balance == 1_050
    route(stripe_stub, {"sub_1": canceled_at_period_end(sub)})

    with django_capture_on_commit_callbacks(execute=True):
        out, _err = run()

    assert [(r.method, r.path) for r in stripe_stub.requests] == [
        ("GET", "/v1/subscriptions/sub_1")
    ]
    assert out == (
        table(row(sub, "deactivated", "Stripe says canceled"))
        + "\n1 overdue subscription(s) examined: 1 deactivated.\n"
    )
    sub.refresh_from_db()
    assert (sub.status, sub.ended_at, sub.canceled_at, sub.stripe_state_at) == (
        SubscriptionStatus.CANCELED,
        NOW - 4 * DAY,
        NOW - 4 * DAY,
        NOW,
    )
    assert sub.plan_id == price.plan_id
    expiry = TokenEntry.objects.get(kind=EntryKind.EXPIRY)
    assert (expiry.amount, expiry.grant_id, expiry.reference) == (
        -1_000,
        grant.pk,
        f"expiry:{grant.pk}",
    )
    assert TokenAccount.objects.get(subscriber_id=subscriber.pk).balance == 50
    assert tokens.balance(subscriber) == 50
    # Mirroring Stripe's canceled state is what announces the end, once.
    assert deactivations == [("sub_1", "canceled")]


def test_stripe_renewed_the_subscription_so_its_period_is_updated(
    price, stripe_stub, deactivations, django_capture_on_commit_callbacks
):
    sub = overdue("sub_1", price, ended_days_ago=4)
    old_end = sub.current_period_end
    route(stripe_stub, {"sub_1": renewed(sub)})

    with django_capture_on_commit_callbacks(execute=True):
        out, _err = run()

    assert out == (
        table(row(sub, "renewed", "Stripe has a newer period"))
        + "\n1 overdue subscription(s) examined: 1 renewed.\n"
    )
    sub.refresh_from_db()
    assert (sub.status, sub.current_period_start, sub.current_period_end) == (
        SubscriptionStatus.ACTIVE,
        old_end,
        old_end + PERIOD,
    )
    assert (sub.ended_at, sub.stripe_state_at) == (None, NOW)
    assert deactivations == []
    # Renewed: nothing is overdue any more.
    out, _err = run()
    assert out == "0 overdue subscription(s) examined.\n"
    assert len(stripe_stub.requests) == 1


def test_unknown_to_stripe_is_deactivated_on_local_dates(price, stripe_stub):
    sub = overdue("sub_gone", price, ended_days_ago=4)
    route(stripe_stub, {"sub_gone": missing("sub_gone")})

    out, _err = run()

    assert out == (
        table(row(sub, "deactivated", "unknown to Stripe"))
        + "\n1 overdue subscription(s) examined: 1 deactivated.\n"
    )
    sub.refresh_from_db()
    assert (sub.status, sub.ended_at) == (SubscriptionStatus.CANCELED, NOW - 4 * DAY)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_stripe_unreachable_decides_the_rest_on_local_dates(price, settings, caplog):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "STRIPE_API_BASE": f"http://127.0.0.1:{closed_port()}",
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "STRIPE_TIMEOUT": 5,
    }
    first = overdue("sub_1", price, ended_days_ago=4)
    second = overdue("sub_2", price, ended_days_ago=5)

    with caplog.at_level("WARNING", logger="fiko_billing.reconcile"):
        out, _err = run()

    assert out == (
        table(row(first, "deactivated", "Stripe unavailable"), row(second, "deactivated"))
        + "\n2 overdue subscription(s) examined: 2 deactivated.\n"
    )
    assert statuses() == {"sub_1": "canceled", "sub_2": "canceled"}
    # Stripe was tried once, not once per subscription.
    warnings = [r.getMessage() for r in caplog.records if r.name == "fiko_billing.reconcile"]
    assert len(warnings) == 1
    assert warnings[0].startswith("Stripe unavailable (")
    assert warnings[0].endswith("); deciding on local dates")


def test_no_stripe_makes_no_stripe_call(price, stripe_stub):
    sub = overdue("sub_1", price, ended_days_ago=4)
    out, _err = run("--no-stripe")
    assert stripe_stub.requests == []
    assert out == (
        table(row(sub, "deactivated")) + "\n1 overdue subscription(s) examined: 1 deactivated.\n"
    )


def test_disabled_billing_says_so_and_decides_on_local_dates(price, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "ENABLED": False}
    overdue("sub_1", price, ended_days_ago=4)
    out, err = run()
    assert err == (
        "Stripe is not enabled: set FIKO_BILLING['ENABLED'] to True. "
        "Deciding on local dates only.\n"
    )
    assert out.splitlines()[-1] == "1 overdue subscription(s) examined: 1 deactivated."
    assert statuses() == {"sub_1": "canceled"}


def test_a_stripe_error_for_one_subscription_fails_the_run_after_the_others(price, stripe_stub):
    first = overdue("sub_a", price, ended_days_ago=6)
    bad = overdue("sub_bad", price, ended_days_ago=5)
    last = overdue("sub_c", price, ended_days_ago=4)
    route(
        stripe_stub,
        {
            "sub_a": missing("sub_a"),
            "sub_bad": (400, payloads.error("Invalid subscription id: 'sub_bad'", param="id")),
            "sub_c": canceled_at_period_end(last),
        },
    )

    error, out = run_failing()

    assert str(error) == "1 subscription(s) could not be checked."
    assert error.returncode == 1
    assert out == (
        table(
            row(first, "deactivated", "unknown to Stripe"),
            row(bad, "error", "Invalid subscription id: 'sub_bad'"),
            row(last, "deactivated", "Stripe says canceled"),
        )
        + "\n3 overdue subscription(s) examined: 2 deactivated, 1 error.\n"
    )
    assert statuses() == {"sub_a": "canceled", "sub_bad": "active", "sub_c": "canceled"}
    assert [r.path for r in stripe_stub.requests] == [
        "/v1/subscriptions/sub_a",
        "/v1/subscriptions/sub_bad",
        "/v1/subscriptions/sub_c",
    ]


# --------------------------------------------------------------------------- dry run, repeats


def test_dry_run_writes_nothing_and_says_what_it_would_do(price, stripe_stub):
    ended = overdue("sub_ended", price, ended_days_ago=4)
    renewing = overdue("sub_renewed", price, ended_days_ago=5)
    local = overdue("sub_local", price, ended_days_ago=6)
    with time_machine.travel(ended.current_period_start, tick=False):
        tokens.credit(
            ended.subscriber,
            1_000,
            kind=EntryKind.GRANT,
            reference="invoice:in_1",
            expires_at=ended.current_period_end,
        )
    route(
        stripe_stub,
        {
            "sub_ended": canceled_at_period_end(ended),
            "sub_renewed": renewed(renewing),
            "sub_local": missing("sub_local"),
        },
    )
    before = list(Subscription.objects.order_by("pk").values())
    entries_before = list(TokenEntry.objects.order_by("pk").values())

    with CaptureQueriesContext(connection) as queries:
        out, _err = run("--dry-run")

    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
    ]
    assert writes == []
    assert list(Subscription.objects.order_by("pk").values()) == before
    assert list(TokenEntry.objects.order_by("pk").values()) == entries_before
    assert out == (
        table(
            row(ended, "would_deactivate", "Stripe says canceled"),
            row(renewing, "would_renew", "Stripe has a newer period"),
            row(local, "would_deactivate", "unknown to Stripe"),
        )
        + "\nDry run: 3 overdue subscription(s) examined: 2 would_deactivate, 1 would_renew.\n"
    )


def test_a_second_run_has_nothing_to_do(price, stripe_stub):
    overdue("sub_1", price, ended_days_ago=4)
    overdue("sub_2", price, ended_days_ago=9, status="past_due")
    run("--no-stripe")
    canceled = list(Subscription.objects.order_by("pk").values())

    out, _err = run()

    assert out == "0 overdue subscription(s) examined.\n"
    assert list(Subscription.objects.order_by("pk").values()) == canceled
    assert stripe_stub.requests == []


def test_one_deactivated_signal_per_subscription_after_commit(
    price, deactivations, django_capture_on_commit_callbacks
):
    overdue("sub_1", price, ended_days_ago=4)
    overdue("sub_2", price, ended_days_ago=9, status="past_due")
    overdue("sub_3", price, ended_days_ago=5, status="trialing")

    with django_capture_on_commit_callbacks() as callbacks:
        run("--no-stripe")
    assert deactivations == []  # nothing is announced before the commit
    for callback in callbacks:
        callback()

    assert deactivations == [
        ("sub_1", "period ended (was active)"),
        ("sub_2", "period ended (was past_due)"),
        ("sub_3", "period ended (was trialing)"),
    ]


def test_batches_cover_every_subscription(price):
    for number in range(5):
        overdue(f"sub_{number}", price, ended_days_ago=4 + number)
    overdue("sub_current", price, ended_days_ago=-3)

    with CaptureQueriesContext(connection) as queries:
        out, _err = run("--no-stripe", "--batch-size", "2")

    assert out.splitlines()[-1] == "5 overdue subscription(s) examined: 5 deactivated."
    assert statuses() == {
        **{f"sub_{number}": "canceled" for number in range(5)},
        "sub_current": "active",
    }
    batch_reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and "current_period_end" in q["sql"].split("WHERE")[-1]
    ]
    # Batches of 2, 2 and 1, then the empty read that ends the loop.
    assert len(batch_reads) == 4
    assert all(sql.endswith("LIMIT 2") for sql in batch_reads)


def test_ending_costs_one_statement_per_subscription_and_a_few_per_transaction(price, clock):
    # Per run: the batch reads (the last one empty). Per transaction of up to 100
    # subscriptions: BEGIN and COMMIT (a savepoint here), creating the missing
    # ledger accounts and locking them, the expiry (read the due credits, zero
    # them, insert the expiry entries, store the balances), locking the rows.
    # Per subscription: its UPDATE.
    fixed = 2 + 2 + 2 + 4 + 1
    first = statements_to_end_later(price, clock, 5, "a")
    assert first == fixed + 5
    second = statements_to_end_later(price, clock, 12, "b")
    assert second == fixed + 12


def statements_to_end_later(price: Price, clock: Any, count: int, prefix: str) -> int:
    clock.move_to(NOW - 2 * DAY)
    subs = [overdue(f"{prefix}{number}", price, ended_days_ago=4) for number in range(count)]
    for sub in subs:
        tokens.credit(
            sub.subscriber,
            1_000,
            kind="grant",
            reference=f"in_{sub.stripe_subscription_id}",
            expires_at=NOW - DAY,
        )
    clock.move_to(NOW)
    with CaptureQueriesContext(connection) as queries:
        out, _err = run("--no-stripe")
    assert out.splitlines()[-1].endswith(f"{count} deactivated.")
    expired = TokenEntry.objects.filter(
        kind=EntryKind.EXPIRY, account__subscriber__in=[s.subscriber for s in subs]
    )
    assert expired.count() == count
    return len(queries.captured_queries)
