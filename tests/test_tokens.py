"""The token ledger keeps every rule its docstrings promise, with exact numbers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from fiko_billing import signals, tokens
from fiko_billing.exceptions import InsufficientTokens, ReferenceConflict, ReservationClosed
from fiko_billing.models import (
    CREDIT_KINDS,
    EntryKind,
    ReservationStatus,
    TokenAccount,
    TokenAllocation,
    TokenEntry,
    TokenReservation,
)
from fiko_billing.subscribers import get_subscriber_model
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

BAD_AMOUNTS = [0, -1, -100, 1.0, 2.5, True, False, "5", None]

# Statements of one operation in the common case, inside the test's transaction.
# On PostgreSQL a consume and a credit are one statement each. A consume is
# wrapped in a savepoint (its SAVEPOINT and RELEASE counted), which undoes it
# when it finds more than the common case; a credit writes nothing unless it
# writes everything, so it needs none (two statements on SQLite: the entry,
# then the balance).
ONE_STATEMENT = connection.vendor == "postgresql"
CREDIT_QUERIES = 1 if ONE_STATEMENT else 2
CONSUME_QUERIES = 3 if ONE_STATEMENT else 5
RESERVE_QUERIES = 3 if ONE_STATEMENT else 7
SETTLE_QUERIES = 3 if ONE_STATEMENT else 6
SETTLE_IN_FULL_QUERIES = 3 if ONE_STATEMENT else 4


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def clock() -> Iterator[Any]:
    """Time stands still at NOW until a test moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def remaining(entry: TokenEntry) -> int:
    entry.refresh_from_db(fields=["remaining"])
    return entry.remaining


def stored_balance(subscriber: Any) -> int:
    return TokenAccount.objects.get(subscriber_id=subscriber.pk).balance


def assert_ledger_consistent(subscriber: Any, *, now: datetime | None = None) -> None:
    """The ledger's invariants, checked from the rows themselves."""
    now = now or timezone.now()
    account = TokenAccount.objects.get(subscriber_id=subscriber.pk)
    entries = list(TokenEntry.objects.filter(account=account).order_by("pk"))
    running = 0
    for entry in entries:
        running += entry.amount
        assert entry.balance_after == running, f"{entry} #{entry.pk} balance_after"
    assert account.balance == running
    credits = [e for e in entries if e.kind in CREDIT_KINDS]
    assert [e.remaining for e in entries if e.kind not in CREDIT_KINDS] == [0] * (
        len(entries) - len(credits)
    )
    if account.balance >= 0:
        live = [e for e in credits if e.expires_at is None or e.expires_at > now]
        assert sum(e.remaining for e in credits) == account.balance
        assert sum(e.remaining for e in live) == tokens.balance(subscriber, now=now)
    else:
        assert [e.remaining for e in credits] == [0] * len(credits)


# --------------------------------------------------------------------------- amounts


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
@pytest.mark.parametrize(
    "operation",
    [
        lambda s, a: tokens.credit(s, a, kind="purchase", reference="cs_bad"),
        lambda s, a: tokens.consume(s, a),
        lambda s, a: tokens.revoke(s, a, reference="re_bad"),
        lambda s, a: tokens.reserve(s, a),
    ],
    ids=["credit", "consume", "revoke", "reserve"],
)
def test_amount_must_be_a_positive_int(subscriber, operation, amount):
    tokens.credit(subscriber, 10, kind="grant", reference="seed")
    with pytest.raises(ValueError, match="amount must be a positive int"):
        operation(subscriber, amount)
    assert TokenEntry.objects.count() == 1
    assert TokenReservation.objects.count() == 0
    assert stored_balance(subscriber) == 10


@pytest.mark.parametrize("actual", [-1, 1.0, True, "3", None])
def test_settle_amount_must_be_an_int_of_zero_or_more(subscriber, actual):
    tokens.credit(subscriber, 10, kind="grant", reference="seed")
    held = tokens.reserve(subscriber, 4)
    with pytest.raises(ValueError, match="actual must be an int of zero or more"):
        held.settle(actual)
    assert TokenEntry.objects.count() == 2
    assert TokenReservation.objects.get().status == ReservationStatus.HELD


@pytest.mark.parametrize("reference", ["", 5, "x" * 256])
def test_reference_must_be_a_short_non_empty_str(subscriber, reference):
    with pytest.raises(ValueError, match="reference must be a non-empty str"):
        tokens.credit(subscriber, 10, kind="grant", reference=reference)
    assert TokenEntry.objects.count() == 0


def test_unsaved_subscriber_is_refused(db):
    unsaved = get_subscriber_model()()
    with pytest.raises(ValueError, match="must be saved"):
        tokens.credit(unsaved, 10, kind="grant", reference="cs_1")
    with pytest.raises(TypeError, match="expected an instance of"):
        tokens.credit(object(), 10, kind="grant", reference="cs_1")
    assert TokenAccount.objects.count() == 0


# --------------------------------------------------------------------------- credit


def test_credit_adds_to_balance_and_records_the_entry(subscriber, clock):
    entry = tokens.credit(
        subscriber,
        100,
        kind="purchase",
        reference="cs_1",
        expires_at=NOW + 30 * DAY,
        description="Starter pack",
    )
    assert tokens.balance(subscriber) == 100
    entry.refresh_from_db()
    assert entry.account.subscriber_id == subscriber.pk
    assert entry.kind == EntryKind.PURCHASE
    assert entry.amount == 100
    assert entry.balance_after == 100
    assert entry.remaining == 100
    assert entry.expires_at == NOW + 30 * DAY
    assert entry.reference == "cs_1"
    assert entry.description == "Starter pack"
    assert entry.grant_id is None
    assert entry.created == NOW
    assert stored_balance(subscriber) == 100


def test_credits_accumulate(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    second = tokens.credit(subscriber, 50, kind="grant", reference="in_1")
    assert second.balance_after == 150
    assert tokens.balance(subscriber) == 150
    assert_ledger_consistent(subscriber)


@pytest.mark.parametrize("kind", ["grant", "purchase", "adjustment"])
def test_credit_accepts_the_creditable_kinds(subscriber, kind):
    assert tokens.credit(subscriber, 5, kind=kind, reference="r").kind == kind


@pytest.mark.parametrize("kind", ["consume", "refund", "expiry", "release", "reserve", "gift"])
def test_credit_refuses_other_kinds(subscriber, kind):
    with pytest.raises(ValueError, match="kind must be one of"):
        tokens.credit(subscriber, 5, kind=kind, reference="r")
    assert TokenEntry.objects.count() == 0


@pytest.mark.parametrize("expires_at", [NOW - DAY, NOW])
def test_credit_refuses_expiry_not_in_the_future(subscriber, clock, expires_at):
    with pytest.raises(ValueError, match="expires_at is in the past"):
        tokens.credit(subscriber, 5, kind="grant", reference="r", expires_at=expires_at)
    assert TokenEntry.objects.count() == 0


def test_balance_without_account_is_zero(subscriber):
    assert tokens.balance(subscriber) == 0
    assert TokenAccount.objects.count() == 0


# --------------------------------------------------------------------------- idempotency


def test_credit_repeated_with_its_reference_returns_the_first_entry(subscriber):
    first = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    again = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    assert again.pk == first.pk
    assert tokens.balance(subscriber) == 100
    assert TokenEntry.objects.count() == 1


def test_consume_repeated_with_its_reference_returns_the_first_entry(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    first = tokens.consume(subscriber, 30, reference="job_1")
    again = tokens.consume(subscriber, 30, reference="job_1")
    assert again.pk == first.pk
    assert tokens.balance(subscriber) == 70
    assert TokenEntry.objects.count() == 2


def test_revoke_repeated_with_its_reference_returns_the_first_entry(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    first = tokens.revoke(subscriber, 40, reference="re_1", grant_reference="cs_1")
    again = tokens.revoke(subscriber, 40, reference="re_1", grant_reference="cs_1")
    assert again.pk == first.pk
    assert tokens.balance(subscriber) == 60
    assert TokenEntry.objects.count() == 2


def test_reserve_repeated_with_its_reference_returns_the_first_reservation(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    first = tokens.reserve(subscriber, 30, reference="job_1")
    again = tokens.reserve(subscriber, 30, reference="job_1")
    assert again == first
    assert tokens.balance(subscriber) == 70
    assert TokenReservation.objects.count() == 1
    assert TokenEntry.objects.count() == 2


def test_reserve_repeated_after_settling_returns_the_settled_reservation(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    first = tokens.reserve(subscriber, 30, reference="job_1")
    first.settle(10)
    again = tokens.reserve(subscriber, 30, reference="job_1")
    assert again.pk == first.pk
    assert tokens.balance(subscriber) == 90
    assert TokenReservation.objects.count() == 1


@pytest.mark.parametrize(
    "repeat",
    [
        lambda s: tokens.credit(s, 101, kind="purchase", reference="cs_1"),
        lambda s: tokens.credit(s, 100, kind="grant", reference="cs_1"),
        lambda s: tokens.consume(s, 100, reference="cs_1"),
        lambda s: tokens.revoke(s, 100, reference="cs_1"),
        lambda s: tokens.adjust(s, -100, reason="typo", reference="cs_1"),
    ],
    ids=["credit-other-amount", "credit-other-kind", "consume", "revoke", "adjust"],
)
def test_used_reference_with_another_operation_conflicts(subscriber, repeat):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with pytest.raises(ReferenceConflict, match="'cs_1' was already used for purchase \\+100"):
        repeat(subscriber)
    assert TokenEntry.objects.count() == 1
    assert stored_balance(subscriber) == 100


def test_consume_reference_with_another_amount_conflicts(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    tokens.consume(subscriber, 30, reference="job_1")
    with pytest.raises(ReferenceConflict):
        tokens.consume(subscriber, 31, reference="job_1")
    assert TokenEntry.objects.count() == 2
    assert stored_balance(subscriber) == 70


def test_revoke_reference_with_another_amount_conflicts(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    tokens.revoke(subscriber, 40, reference="re_1")
    with pytest.raises(ReferenceConflict):
        tokens.revoke(subscriber, 50, reference="re_1")
    assert TokenEntry.objects.count() == 2
    assert stored_balance(subscriber) == 60


def test_reserve_reference_with_another_amount_conflicts(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    tokens.reserve(subscriber, 30, reference="job_1")
    with pytest.raises(ReferenceConflict, match="'job_1' already reserved 30 tokens"):
        tokens.reserve(subscriber, 40, reference="job_1")
    assert TokenReservation.objects.count() == 1
    assert TokenEntry.objects.count() == 2
    assert tokens.balance(subscriber) == 70


def test_references_are_per_subscriber(subscriber):
    other = SubscriberFactory()
    mine = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    theirs = tokens.credit(other, 70, kind="purchase", reference="cs_1")
    assert theirs.pk != mine.pk
    assert tokens.consume(subscriber, 10, reference="job_1").amount == -10
    assert tokens.consume(other, 20, reference="job_1").amount == -20
    assert tokens.balance(subscriber) == 90
    assert tokens.balance(other) == 50


def test_reserve_accepts_the_longest_reference_its_entry_can_store(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with pytest.raises(ValueError, match="at most 247 characters"):
        tokens.reserve(subscriber, 30, reference="j" * 248)
    held = tokens.reserve(subscriber, 30, reference="j" * 247)
    assert TokenEntry.objects.get(kind=EntryKind.RESERVE).reference == "reserve:" + "j" * 247
    held.settle(20)
    assert tokens.balance(subscriber) == 80
    assert_ledger_consistent(subscriber)


# --------------------------------------------------------------------------- consume


def test_consume_records_a_debit(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    entry = tokens.consume(subscriber, 30, reference="job_1", description="Summary")
    entry.refresh_from_db()
    assert entry.kind == EntryKind.CONSUME
    assert entry.amount == -30
    assert entry.balance_after == 70
    assert entry.remaining == 0
    assert entry.reference == "job_1"
    assert entry.description == "Summary"
    assert tokens.balance(subscriber) == 70
    assert_ledger_consistent(subscriber)


def test_consume_everything_leaves_zero(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    tokens.consume(subscriber, 100)
    assert tokens.balance(subscriber) == 0
    assert_ledger_consistent(subscriber)


def test_consume_more_than_the_balance_raises_and_writes_nothing(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with pytest.raises(InsufficientTokens) as info:
        tokens.consume(subscriber, 101, reference="job_1")
    assert info.value.requested == 101
    assert info.value.available == 100
    assert str(info.value) == "Insufficient tokens: 101 requested, 100 available."
    assert TokenEntry.objects.count() == 1
    assert stored_balance(subscriber) == 100
    # The reference stays free for the retry.
    assert tokens.consume(subscriber, 100, reference="job_1").balance_after == 0


def test_consume_without_any_credit_raises_and_creates_no_account(subscriber):
    with pytest.raises(InsufficientTokens) as info:
        tokens.consume(subscriber, 1)
    assert (info.value.requested, info.value.available) == (1, 0)
    assert TokenAccount.objects.count() == 0
    assert TokenEntry.objects.count() == 0


def test_consume_draws_from_credits_that_expire_first(subscriber, clock):
    forever = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    late = tokens.credit(subscriber, 50, kind="grant", reference="in_1", expires_at=NOW + 10 * DAY)
    soon = tokens.credit(subscriber, 30, kind="grant", reference="in_2", expires_at=NOW + 5 * DAY)

    tokens.consume(subscriber, 60)
    assert (remaining(soon), remaining(late), remaining(forever)) == (0, 20, 100)

    tokens.consume(subscriber, 30)
    assert (remaining(soon), remaining(late), remaining(forever)) == (0, 0, 90)
    assert tokens.balance(subscriber) == 90
    assert_ledger_consistent(subscriber)


def test_consume_takes_equal_expiries_oldest_first(subscriber, clock):
    first = tokens.credit(subscriber, 10, kind="grant", reference="a", expires_at=NOW + DAY)
    second = tokens.credit(subscriber, 10, kind="grant", reference="b", expires_at=NOW + DAY)
    tokens.consume(subscriber, 15)
    assert (remaining(first), remaining(second)) == (0, 5)


# --------------------------------------------------------------------------- expiry


def test_balance_excludes_expired_credits_before_expiry_runs(subscriber, clock):
    tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    tokens.credit(subscriber, 20, kind="grant", reference="in_2", expires_at=NOW + 2 * DAY)
    tokens.credit(subscriber, 50, kind="purchase", reference="cs_1")
    assert tokens.balance(subscriber, now=NOW) == 170
    assert tokens.balance(subscriber, now=NOW + DAY - timedelta(seconds=1)) == 170
    assert tokens.balance(subscriber, now=NOW + DAY) == 70
    assert tokens.balance(subscriber, now=NOW + 3 * DAY) == 50
    clock.move_to(NOW + 3 * DAY)
    assert tokens.balance(subscriber) == 50
    # Nothing was written: the stored balance still holds the expired credits.
    assert stored_balance(subscriber) == 170
    assert TokenEntry.objects.filter(kind=EntryKind.EXPIRY).count() == 0


def test_expire_due_writes_one_entry_per_expired_credit(subscriber, clock):
    first = tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    second = tokens.credit(subscriber, 40, kind="grant", reference="in_2", expires_at=NOW + DAY)
    keeps = tokens.credit(subscriber, 50, kind="grant", reference="in_3", expires_at=NOW + 9 * DAY)
    tokens.consume(subscriber, 30)  # from the first credit

    assert tokens.expire_due(now=NOW + 2 * DAY) == 110

    expiries = list(TokenEntry.objects.filter(kind=EntryKind.EXPIRY).order_by("pk"))
    assert [(e.grant_id, e.amount, e.balance_after) for e in expiries] == [
        (first.pk, -70, 90),
        (second.pk, -40, 50),
    ]
    assert [e.reference for e in expiries] == [f"expiry:{first.pk}", f"expiry:{second.pk}"]
    assert (remaining(first), remaining(second), remaining(keeps)) == (0, 0, 50)
    assert stored_balance(subscriber) == 50
    assert_ledger_consistent(subscriber, now=NOW + 2 * DAY)


def test_expire_due_is_idempotent(subscriber, clock):
    tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    assert tokens.expire_due(now=NOW + 2 * DAY) == 100
    assert tokens.expire_due(now=NOW + 2 * DAY) == 0
    assert TokenEntry.objects.filter(kind=EntryKind.EXPIRY).count() == 1
    assert stored_balance(subscriber) == 0


def test_expire_due_ignores_credits_not_yet_due(subscriber, clock):
    tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    assert tokens.expire_due(now=NOW + DAY - timedelta(seconds=1)) == 0
    assert TokenEntry.objects.count() == 1


def test_expire_due_reads_the_clock_without_now(subscriber, clock):
    tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    assert tokens.expire_due() == 0
    clock.move_to(NOW + DAY)
    assert tokens.expire_due() == 100


def test_expire_due_covers_every_account_or_only_the_one_named(subscriber, clock):
    other = SubscriberFactory()
    tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    tokens.credit(other, 30, kind="grant", reference="in_1", expires_at=NOW + DAY)
    assert tokens.expire_due(now=NOW + DAY, subscriber=other) == 30
    assert (stored_balance(subscriber), stored_balance(other)) == (100, 0)
    assert tokens.expire_due(now=NOW + DAY) == 100
    assert (stored_balance(subscriber), stored_balance(other)) == (0, 0)


def test_consume_never_spends_expired_tokens(subscriber, clock):
    old = tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    tokens.credit(subscriber, 50, kind="purchase", reference="cs_1")
    clock.move_to(NOW + 2 * DAY)

    with pytest.raises(InsufficientTokens) as info:
        tokens.consume(subscriber, 51)
    assert (info.value.requested, info.value.available) == (51, 50)
    assert TokenEntry.objects.count() == 2  # the expiry it wrote was rolled back too

    entry = tokens.consume(subscriber, 50)
    assert entry.balance_after == 0
    assert remaining(old) == 0
    expiry = TokenEntry.objects.get(kind=EntryKind.EXPIRY)
    assert (expiry.grant_id, expiry.amount) == (old.pk, -100)
    assert_ledger_consistent(subscriber)


def test_credit_writes_due_expiries_first(subscriber, clock):
    tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    clock.move_to(NOW + 2 * DAY)
    entry = tokens.credit(subscriber, 10, kind="purchase", reference="cs_1")
    assert entry.balance_after == 10
    assert stored_balance(subscriber) == 10
    assert_ledger_consistent(subscriber)


# --------------------------------------------------------------------------- revoke


def test_revoke_takes_first_from_the_named_grant(subscriber, clock):
    bought = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    allowance = tokens.credit(
        subscriber, 50, kind="grant", reference="in_1", expires_at=NOW + 5 * DAY
    )
    entry = tokens.revoke(subscriber, 30, reference="re_1", grant_reference="cs_1")
    entry.refresh_from_db()
    assert (entry.kind, entry.amount, entry.balance_after) == (EntryKind.REFUND, -30, 120)
    assert entry.grant_id == bought.pk
    assert (remaining(bought), remaining(allowance)) == (70, 50)
    assert_ledger_consistent(subscriber)


def test_revoke_takes_the_rest_from_other_credits(subscriber, clock):
    bought = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    allowance = tokens.credit(
        subscriber, 50, kind="grant", reference="in_1", expires_at=NOW + 5 * DAY
    )
    tokens.consume(subscriber, 40)  # from the allowance, which expires first
    tokens.revoke(subscriber, 105, reference="re_1", grant_reference="cs_1")
    assert (remaining(bought), remaining(allowance)) == (0, 5)
    assert tokens.balance(subscriber) == 5
    assert_ledger_consistent(subscriber)


def test_revoke_without_a_grant_takes_expiring_credits_first(subscriber, clock):
    bought = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    allowance = tokens.credit(
        subscriber, 50, kind="grant", reference="in_1", expires_at=NOW + 5 * DAY
    )
    entry = tokens.revoke(subscriber, 60, reference="re_1", grant_reference="cs_unknown")
    assert entry.grant_id is None
    assert (remaining(bought), remaining(allowance)) == (90, 0)


def test_revoke_beyond_the_balance_leaves_a_debt(subscriber):
    bought = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    tokens.consume(subscriber, 70)
    entry = tokens.revoke(subscriber, 100, reference="re_1", grant_reference="cs_1")
    assert entry.balance_after == -70
    assert tokens.balance(subscriber) == -70
    assert remaining(bought) == 0
    assert_ledger_consistent(subscriber)


def test_debt_blocks_spending(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    tokens.revoke(subscriber, 130, reference="re_1")
    with pytest.raises(InsufficientTokens) as info:
        tokens.consume(subscriber, 1)
    assert (info.value.requested, info.value.available) == (1, -30)
    assert str(info.value) == "Insufficient tokens: 1 requested, 0 available."
    with pytest.raises(InsufficientTokens):
        tokens.reserve(subscriber, 1)
    assert TokenEntry.objects.count() == 2


def test_new_credit_pays_the_debt_first(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    tokens.revoke(subscriber, 130, reference="re_1")

    small = tokens.credit(subscriber, 10, kind="grant", reference="in_1")
    assert (small.balance_after, remaining(small)) == (-20, 0)
    assert_ledger_consistent(subscriber)

    big = tokens.credit(subscriber, 50, kind="purchase", reference="cs_2")
    assert (big.balance_after, remaining(big)) == (30, 30)
    assert tokens.consume(subscriber, 30).balance_after == 0
    assert_ledger_consistent(subscriber)


def test_revoke_refuses_other_kinds(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with pytest.raises(ValueError, match="kind must be one of"):
        tokens.revoke(subscriber, 10, reference="re_1", kind="consume")
    assert TokenEntry.objects.count() == 1


# --------------------------------------------------------------------------- adjust


def test_positive_adjustment_credits(subscriber):
    entry = tokens.adjust(subscriber, 25, reason="Goodwill after outage")
    entry.refresh_from_db()
    assert (entry.kind, entry.amount, entry.remaining) == (EntryKind.ADJUSTMENT, 25, 25)
    assert entry.description == "Goodwill after outage"
    assert entry.reference is None
    assert tokens.balance(subscriber) == 25


def test_negative_adjustment_takes_back_and_may_leave_a_debt(subscriber):
    tokens.credit(subscriber, 10, kind="purchase", reference="cs_1")
    entry = tokens.adjust(subscriber, -25, reason="Double credit", reference="adj_1")
    entry.refresh_from_db()
    assert (entry.kind, entry.amount, entry.balance_after) == (EntryKind.ADJUSTMENT, -25, -15)
    assert (entry.description, entry.reference) == ("Double credit", "adj_1")
    assert tokens.balance(subscriber) == -15
    assert_ledger_consistent(subscriber)


def test_adjustment_with_a_reference_is_idempotent(subscriber):
    first = tokens.adjust(subscriber, 25, reason="Goodwill", reference="adj_1")
    assert tokens.adjust(subscriber, 25, reason="Goodwill", reference="adj_1").pk == first.pk
    assert tokens.balance(subscriber) == 25


@pytest.mark.parametrize(
    ("delta", "reason", "message"),
    [
        (0, "Nothing", "delta must be a non-zero int"),
        (True, "Bool", "delta must be a non-zero int"),
        (2.0, "Float", "delta must be a non-zero int"),
        (5, "", "an adjustment needs a reason"),
        (5, "   ", "an adjustment needs a reason"),
    ],
)
def test_adjustment_needs_a_non_zero_int_and_a_reason(subscriber, delta, reason, message):
    with pytest.raises(ValueError, match=message):
        tokens.adjust(subscriber, delta, reason=reason)
    assert TokenEntry.objects.count() == 0


# --------------------------------------------------------------------------- reservations


def test_reserve_holds_tokens_out_of_the_balance(subscriber):
    bought = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 40, reference="job_1", description="Video render")
    assert tokens.balance(subscriber) == 60
    assert remaining(bought) == 60
    row = TokenReservation.objects.get(pk=held.pk)
    assert (row.amount, row.status, row.settled_amount, row.reference) == (
        40,
        ReservationStatus.HELD,
        None,
        "job_1",
    )
    assert (row.entry.kind, row.entry.amount, row.entry.reference) == (
        EntryKind.RESERVE,
        -40,
        "reserve:job_1",
    )
    allocation = TokenAllocation.objects.get()
    assert (allocation.debit_id, allocation.grant_id, allocation.amount) == (
        row.entry_id,
        bought.pk,
        40,
    )
    assert (held.amount, held.reference, held.subscriber) == (40, "job_1", subscriber)
    assert_ledger_consistent(subscriber)


def test_reserve_more_than_the_balance_raises_and_writes_nothing(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with pytest.raises(InsufficientTokens) as info:
        tokens.reserve(subscriber, 101, reference="job_1")
    assert (info.value.requested, info.value.available) == (101, 100)
    assert TokenReservation.objects.count() == 0
    assert TokenEntry.objects.count() == 1


def test_reserved_tokens_cannot_be_consumed(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    tokens.reserve(subscriber, 80)
    with pytest.raises(InsufficientTokens) as info:
        tokens.consume(subscriber, 21)
    assert info.value.available == 20


def test_settle_below_the_hold_returns_the_rest_to_the_same_credits(subscriber, clock):
    soon = tokens.credit(subscriber, 30, kind="grant", reference="in_1", expires_at=NOW + 5 * DAY)
    late = tokens.credit(subscriber, 30, kind="grant", reference="in_2", expires_at=NOW + 9 * DAY)
    forever = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 50)
    assert (remaining(soon), remaining(late), remaining(forever)) == (0, 10, 100)

    row = held.settle(20)

    # The 20 used count as spent from the earliest expiry; the 30 unused go
    # back to the credits they came from, latest expiry first.
    assert (remaining(soon), remaining(late), remaining(forever)) == (10, 30, 100)
    assert (row.status, row.settled_amount, row.closed_at) == (
        ReservationStatus.SETTLED,
        20,
        NOW,
    )
    back = TokenEntry.objects.get(kind=EntryKind.RELEASE)
    assert (back.amount, back.balance_after, back.reference) == (30, 140, f"release:{held.pk}")
    assert tokens.balance(subscriber) == 140
    assert_ledger_consistent(subscriber)


def test_settle_the_exact_hold_writes_no_entry(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 40)
    row = tokens.settle(held, 40)
    assert (row.status, row.settled_amount) == (ReservationStatus.SETTLED, 40)
    assert TokenEntry.objects.count() == 2
    assert tokens.balance(subscriber) == 60


def test_settle_above_the_hold_spends_the_overage(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 40, description="Render")
    row = held.settle(55)
    assert (row.status, row.settled_amount) == (ReservationStatus.SETTLED, 55)
    overage = TokenEntry.objects.get(kind=EntryKind.CONSUME)
    assert (overage.amount, overage.balance_after, overage.reference) == (
        -15,
        45,
        f"reservation:{held.pk}:overage",
    )
    assert overage.description == "Render"
    assert tokens.balance(subscriber) == 45
    assert_ledger_consistent(subscriber)


def test_settle_above_the_hold_without_tokens_raises_and_stays_held(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 40)
    tokens.consume(subscriber, 55)
    with pytest.raises(InsufficientTokens) as info:
        held.settle(50)
    assert (info.value.requested, info.value.available) == (10, 5)
    row = TokenReservation.objects.get(pk=held.pk)
    assert (row.status, row.settled_amount, row.closed_at) == (ReservationStatus.HELD, None, None)
    assert TokenEntry.objects.count() == 3
    assert held.settle(45).status == ReservationStatus.SETTLED
    assert tokens.balance(subscriber) == 0
    assert_ledger_consistent(subscriber)


def test_release_returns_everything(subscriber, clock):
    soon = tokens.credit(subscriber, 30, kind="grant", reference="in_1", expires_at=NOW + 5 * DAY)
    forever = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 50)
    row = held.release()
    assert (row.status, row.settled_amount) == (ReservationStatus.RELEASED, 0)
    assert (remaining(soon), remaining(forever)) == (30, 100)
    assert tokens.balance(subscriber) == 130
    assert_ledger_consistent(subscriber)


def test_settle_zero_is_a_release(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    row = tokens.reserve(subscriber, 50).settle(0)
    assert (row.status, row.settled_amount) == (ReservationStatus.RELEASED, 0)
    assert tokens.balance(subscriber) == 100


def test_settling_twice_with_the_same_amount_is_a_no_op(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 50)
    first = held.settle(20)
    entries = TokenEntry.objects.count()
    again = held.settle(20)
    assert again.pk == first.pk
    assert (again.status, again.settled_amount) == (ReservationStatus.SETTLED, 20)
    assert TokenEntry.objects.count() == entries
    assert tokens.balance(subscriber) == 80


def test_releasing_twice_is_a_no_op(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 50)
    assert held.release().pk == tokens.release(held).pk
    assert tokens.balance(subscriber) == 100
    assert TokenEntry.objects.count() == 3


@pytest.mark.parametrize(("first", "then"), [(20, 30), (20, 0), (0, 20), (50, 60)], ids=str)
def test_closing_again_with_another_amount_raises(subscriber, first, then):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 50)
    held.settle(first)
    entries = TokenEntry.objects.count()
    status = "released" if first == 0 else "settled"
    with pytest.raises(ReservationClosed, match=f"reservation {held.pk} is already {status}"):
        held.settle(then)
    assert TokenEntry.objects.count() == entries
    assert tokens.balance(subscriber) == 100 - first


def test_held_tokens_of_an_expired_credit_expire_on_release(subscriber, clock):
    grant = tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    tokens.credit(subscriber, 10, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 40)
    clock.move_to(NOW + 2 * DAY)
    assert tokens.balance(subscriber) == 10

    held.release()

    assert tokens.balance(subscriber) == 10
    assert stored_balance(subscriber) == 10
    assert remaining(grant) == 0
    # The 60 never held and the 40 given back expire together.
    expired = TokenEntry.objects.get(kind=EntryKind.EXPIRY)
    assert (expired.grant_id, expired.amount) == (grant.pk, -100)
    assert_ledger_consistent(subscriber)


def test_held_tokens_expire_on_release_after_the_sweep_ran(subscriber, clock):
    grant = tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    held = tokens.reserve(subscriber, 40, expires_in=7 * DAY)  # the hold outlives its credit
    assert tokens.expire_due(now=NOW + 2 * DAY) == 60
    clock.move_to(NOW + 2 * DAY)

    held.settle(15)

    assert tokens.balance(subscriber) == 0
    assert stored_balance(subscriber) == 0
    assert remaining(grant) == 0
    expired = TokenEntry.objects.filter(kind=EntryKind.EXPIRY, grant=grant).order_by("pk")
    assert [(e.amount, e.reference) for e in expired] == [
        (-60, f"expiry:{grant.pk}"),
        (-25, f"expiry:{grant.pk}:release:{held.pk}"),
    ]
    assert tokens.expire_due(now=NOW + 3 * DAY) == 0
    assert_ledger_consistent(subscriber)


def test_release_during_a_debt_pays_the_debt_first(subscriber):
    bought = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 60)
    tokens.revoke(subscriber, 70, reference="re_1", grant_reference="cs_1")
    assert tokens.balance(subscriber) == -30
    held.release()
    assert tokens.balance(subscriber) == 30
    assert remaining(bought) == 30
    assert_ledger_consistent(subscriber)


def test_a_long_story_keeps_the_invariants(subscriber, clock):
    tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + 3 * DAY)
    tokens.credit(subscriber, 50, kind="purchase", reference="cs_1")
    assert_ledger_consistent(subscriber)
    first = tokens.reserve(subscriber, 70, reference="job_1")
    tokens.consume(subscriber, 20)
    assert_ledger_consistent(subscriber)
    first.settle(90)
    assert_ledger_consistent(subscriber)
    second = tokens.reserve(subscriber, 30, reference="job_2")
    clock.move_to(NOW + 4 * DAY)
    assert_ledger_consistent(subscriber)
    tokens.revoke(subscriber, 50, reference="re_1", grant_reference="cs_1")
    assert_ledger_consistent(subscriber)
    second.release()
    assert_ledger_consistent(subscriber)
    tokens.adjust(subscriber, 5, reason="Goodwill")
    tokens.expire_due()
    assert_ledger_consistent(subscriber)
    assert tokens.balance(subscriber) == stored_balance(subscriber)


# --------------------------------------------------------------------------- signals


@pytest.fixture
def received() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def on_credit(sender: Any, **kwargs: Any) -> None:
        calls.append(("credited", {"sender": sender, **kwargs}))

    def on_debit(sender: Any, **kwargs: Any) -> None:
        calls.append(("debited", {"sender": sender, **kwargs}))

    signals.tokens_credited.connect(on_credit, weak=False)
    signals.tokens_debited.connect(on_debit, weak=False)
    yield calls
    signals.tokens_credited.disconnect(on_credit)
    signals.tokens_debited.disconnect(on_debit)


def test_credit_signal_is_sent_after_commit(
    subscriber, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        entry = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
        assert received == []
    assert len(callbacks) == 1
    assert received == [
        (
            "credited",
            {
                "sender": TokenEntry,
                "signal": signals.tokens_credited,
                "subscriber": subscriber,
                "entry": entry,
                "amount": 100,
                "balance": 100,
            },
        )
    ]


def test_debit_signal_is_sent_after_commit(
    subscriber, received, django_capture_on_commit_callbacks
):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with django_capture_on_commit_callbacks(execute=True):
        entry = tokens.consume(subscriber, 30)
        assert received == []
    assert received == [
        (
            "debited",
            {
                "sender": TokenEntry,
                "signal": signals.tokens_debited,
                "subscriber": subscriber,
                "entry": entry,
                "amount": 30,
                "balance": 70,
            },
        )
    ]


def test_expiry_and_release_send_their_signals(
    subscriber, clock, received, django_capture_on_commit_callbacks
):
    tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    tokens.credit(subscriber, 50, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 20, expires_in=7 * DAY)  # the hold outlives its credit
    clock.move_to(NOW + 2 * DAY)
    with django_capture_on_commit_callbacks(execute=True):
        tokens.expire_due()
        held.release()
    assert [(kind, kw["entry"].kind, kw["amount"], kw["balance"]) for kind, kw in received] == [
        ("debited", EntryKind.EXPIRY, 80, 50),
        ("credited", EntryKind.RELEASE, 20, 70),
        ("debited", EntryKind.EXPIRY, 20, 50),
    ]


def test_no_signal_when_the_outer_transaction_rolls_back(
    subscriber, received, django_capture_on_commit_callbacks
):
    class Rollback(Exception):
        pass

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        contextlib.suppress(Rollback),
        transaction.atomic(),
    ):
        tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
        tokens.consume(subscriber, 10)
        raise Rollback
    assert callbacks == []
    assert received == []
    assert tokens.balance(subscriber) == 0


def test_no_signal_when_consume_fails(
    subscriber, clock, received, django_capture_on_commit_callbacks
):
    tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + DAY)
    clock.move_to(NOW + 2 * DAY)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(InsufficientTokens),
    ):
        tokens.consume(subscriber, 1)
    assert callbacks == []
    assert received == []


def test_commit_costs_no_query_without_receivers(
    subscriber, django_capture_on_commit_callbacks, django_assert_num_queries
):
    with django_capture_on_commit_callbacks() as callbacks:
        tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
        tokens.consume(subscriber, 10)
    assert len(callbacks) == 2
    with django_assert_num_queries(0):
        for callback in callbacks:
            callback()


@pytest.mark.django_db(transaction=True)
def test_signal_waits_for_the_real_commit(received):
    subscriber = SubscriberFactory()
    with transaction.atomic():
        tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
        assert received == []
    assert [(kind, kw["amount"], kw["balance"]) for kind, kw in received] == [
        ("credited", 100, 100)
    ]


# --------------------------------------------------------------------------- query budgets


def test_credit_query_budget(subscriber, django_assert_num_queries):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_0")
    with django_assert_num_queries(CREDIT_QUERIES):
        tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")


def test_credit_at_a_used_reference_writes_nothing_and_leaves_the_transaction_usable(
    subscriber,
):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with transaction.atomic():
        # The common case finds the reference used and writes nothing, without a
        # savepoint: no balance moved ahead of an entry, nothing to roll back.
        again = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
        with pytest.raises(ReferenceConflict):
            tokens.credit(subscriber, 50, kind="purchase", reference="cs_1")
        assert stored_balance(subscriber) == 100
        tokens.credit(subscriber, 7, kind="grant", reference="in_1")
    assert again.balance_after == 100
    assert stored_balance(subscriber) == 107
    assert_ledger_consistent(subscriber)


@pytest.mark.django_db(transaction=True)
def test_credit_outside_a_transaction_is_its_own_transaction(django_assert_num_queries):
    subscriber = SubscriberFactory()
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_0")
    with django_assert_num_queries(CREDIT_QUERIES + 2) as captured:
        entry = tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    sql = [query["sql"] for query in captured.captured_queries]
    assert (sql[0], sql[-1]) == ("BEGIN", "COMMIT")
    assert entry.balance_after == 200
    assert_ledger_consistent(subscriber)


@pytest.mark.postgres
def test_the_ledger_lock_travels_with_the_statement_that_does_the_work(
    subscriber, django_assert_num_queries
):
    # Two statements, so the work's snapshot is taken after the lock is held, in one
    # round trip (Django's default client-side binding).
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with django_assert_num_queries(CONSUME_QUERIES) as captured:
        tokens.consume(subscriber, 10)
    work = [q["sql"] for q in captured.captured_queries if "FOR UPDATE;" in q["sql"]]
    assert len(work) == 1
    lock, statement = work[0].split(";\n", 1)
    assert lock.startswith("SELECT id FROM")
    assert lock.endswith("FOR UPDATE")
    assert statement.lstrip().startswith("WITH acct AS")


def test_consume_query_budget(subscriber, django_assert_num_queries):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with django_assert_num_queries(CONSUME_QUERIES):
        tokens.consume(subscriber, 10)


def test_consume_with_reference_query_budget(subscriber, django_assert_num_queries):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with django_assert_num_queries(CONSUME_QUERIES):
        tokens.consume(subscriber, 10, reference="job_1")


def test_consume_across_credits_query_budget(subscriber, clock, django_assert_num_queries):
    purchase = tokens.credit(subscriber, 5, kind="purchase", reference="cs_1")
    grant = tokens.credit(subscriber, 5, kind="grant", reference="in_1", expires_at=NOW + DAY)
    with django_assert_num_queries(CONSUME_QUERIES):
        tokens.consume(subscriber, 8)
    grant.refresh_from_db()
    purchase.refresh_from_db()
    assert (grant.remaining, purchase.remaining) == (0, 2)  # the expiring one first
    assert_ledger_consistent(subscriber)


def test_reserve_query_budget(subscriber, django_assert_num_queries):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with django_assert_num_queries(RESERVE_QUERIES):
        tokens.reserve(subscriber, 10)


def test_settle_query_budget(subscriber, django_assert_num_queries):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 10)
    with django_assert_num_queries(SETTLE_QUERIES):
        held.settle(4)


def test_settle_in_full_query_budget(subscriber, django_assert_num_queries):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 10)
    with django_assert_num_queries(SETTLE_IN_FULL_QUERIES):
        held.settle(10)
    assert tokens.balance(subscriber) == 90


def test_balance_is_one_query(subscriber, django_assert_num_queries):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    with django_assert_num_queries(1):
        assert tokens.balance(subscriber) == 100


@pytest.mark.django_db
@pytest.mark.parametrize(
    "reference", ["reserve:job", "release:1", "expiry:1", "reservation:1:overage"]
)
def test_the_ledgers_own_reference_prefixes_are_refused(subscriber, reference):
    tokens.credit(subscriber, 10, kind="purchase", reference="seed")
    with pytest.raises(ValueError, match="the ledger's own"):
        tokens.consume(subscriber, 1, reference=reference)
    assert tokens.balance(subscriber) == 10


@pytest.mark.django_db
def test_revoke_takes_back_only_from_a_credit_named_as_its_source(subscriber):
    first = tokens.credit(subscriber, 10, kind="purchase", reference="p1")
    tokens.consume(subscriber, 3, reference="spend")
    refund = tokens.revoke(subscriber, 2, reference="r1", grant_reference="spend")
    assert refund.grant is None
    first.refresh_from_db()
    assert first.remaining == 5
    assert tokens.balance(subscriber) == 5
