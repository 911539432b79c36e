"""Parallel ledger writes on one account: threads that really overlap, invariants after.

These run on PostgreSQL (``DATABASE_URL=postgres://...``), where the account
row lock is what keeps them right. ``test_parallel_consumes_on_a_sqlite_file``
repeats the first of them on SQLite when ``FIKO_TEST_SQLITE_FILE`` names a
database file, since SQLite in memory cannot be shared between threads.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from fiko_billing import tokens
from fiko_billing.exceptions import InsufficientTokens
from fiko_billing.models import (
    CREDIT_KINDS,
    ReservationStatus,
    TokenAccount,
    TokenAllocation,
    TokenEntry,
    TokenReservation,
)
from tests.factories import SubscriberFactory

T = TypeVar("T")

THREADS = 8
CONSUMES_PER_THREAD = 50

ON_SQLITE_FILE = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and bool(
    settings.DATABASES["default"]["TEST"].get("NAME")
)


@dataclass
class Outcome:
    results: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def run_together(work: Callable[[int], Any], threads: int = THREADS) -> list[Outcome]:
    """Run ``work(i)`` in ``threads`` threads released at the same moment."""
    barrier = threading.Barrier(threads)
    outcomes = [Outcome() for _ in range(threads)]

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[i].results.append(work(i))
        except BaseException as exc:  # reported by the test, never swallowed
            outcomes[i].errors.append(exc)
        finally:
            connection.close()

    started = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=120)
    assert [t.name for t in started if t.is_alive()] == []
    return outcomes


def while_another_holds_the_lock(
    subscriber: Any, holder_work: Callable[[], object], waiter: Callable[[], T]
) -> T:
    """``waiter()``, run while another transaction holds ``subscriber``'s ledger lock.

    The other transaction takes the lock, runs ``holder_work`` and commits
    about half a second after ``waiter`` started, long enough for it to be
    waiting on the lock, so the waiter's first statement predates the commit.
    """
    from django.db import transaction

    locked, waiting = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                tokens.lock_account(subscriber)
                holder_work()
                locked.set()
                waiting.wait(timeout=1)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(timeout=30)
    threading.Timer(0.5, waiting.set).start()
    try:
        return waiter()
    finally:
        holder.join()


def grant_expiring(subscriber: Any) -> None:
    """A grant of 10 tokens that expires tomorrow: drawn before a purchase."""
    from datetime import timedelta

    from django.utils import timezone

    tokens.credit(
        subscriber,
        10,
        kind="grant",
        reference="in_1",
        expires_at=timezone.now() + timedelta(days=1),
    )


def assert_ledger_consistent(subscriber: Any) -> None:
    account = TokenAccount.objects.get(subscriber_id=subscriber.pk)
    running = 0
    for entry in TokenEntry.objects.filter(account=account).order_by("pk"):
        running += entry.amount
        assert entry.balance_after == running, f"{entry} #{entry.pk} balance_after"
    assert account.balance == running
    remaining = (
        TokenEntry.objects.filter(account=account, kind__in=CREDIT_KINDS).aggregate(
            total=Sum("remaining")
        )["total"]
        or 0
    )
    assert remaining == max(account.balance, 0)
    assert tokens.balance(subscriber) == account.balance


# --------------------------------------------------------------------------- consume


def consume_storm() -> None:
    """8 threads x 50 consumes of 1..3 tokens on a balance smaller than all they ask."""
    subscriber = SubscriberFactory()
    initial = 500
    tokens.credit(subscriber, 300, kind="purchase", reference="cs_1")
    tokens.credit(subscriber, 200, kind="grant", reference="in_1")
    rngs = [random.Random(i) for i in range(THREADS)]
    asks = [[rng.randint(1, 3) for _ in range(CONSUMES_PER_THREAD)] for rng in rngs]
    asked = sum(map(sum, asks))
    assert asked > initial

    def work(i: int) -> tuple[list[TokenEntry], list[InsufficientTokens]]:
        spent, refused = [], []
        for amount in asks[i]:
            try:
                spent.append(tokens.consume(subscriber, amount))
            except InsufficientTokens as exc:
                refused.append(exc)
        return spent, refused

    outcomes = run_together(work)

    assert [o.errors for o in outcomes] == [[]] * THREADS
    spent = [entry for o in outcomes for entry in o.results[0][0]]
    refused = [exc for o in outcomes for exc in o.results[0][1]]
    assert len(spent) + len(refused) == THREADS * CONSUMES_PER_THREAD
    assert sum(-e.amount for e in spent) + sum(e.requested for e in refused) == asked
    final = tokens.balance(subscriber)
    assert final == initial - sum(-e.amount for e in spent)
    assert final >= 0
    assert min(e.balance_after for e in spent) >= 0
    assert TokenEntry.objects.filter(balance_after__lt=0).count() == 0
    # Each refusal was right when it happened, and the balance only fell since.
    assert all(0 <= exc.available < exc.requested for exc in refused)
    assert refused != []
    assert final <= min(exc.available for exc in refused)
    assert TokenEntry.objects.filter(kind="consume").count() == len(spent)
    assert_ledger_consistent(subscriber)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_consumes_never_overspend():
    consume_storm()


@pytest.mark.skipif(
    not ON_SQLITE_FILE,
    reason="needs SQLite on a file: set FIKO_TEST_SQLITE_FILE=/tmp/fiko-test.sqlite3",
)
@pytest.mark.django_db(transaction=True)
def test_parallel_consumes_on_a_sqlite_file():
    consume_storm()


# --------------------------------------------------------------------------- references


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_credit_reference_from_many_threads_credits_once():
    subscriber = SubscriberFactory()
    tokens.credit(subscriber, 1, kind="grant", reference="seed")

    outcomes = run_together(
        lambda i: tokens.credit(subscriber, 100, kind="purchase", reference="cs_same").pk
    )

    assert [o.errors for o in outcomes] == [[]] * THREADS
    pks = {o.results[0] for o in outcomes}
    assert pks == {TokenEntry.objects.get(reference="cs_same").pk}
    assert TokenEntry.objects.count() == 2
    assert tokens.balance(subscriber) == 101
    assert_ledger_consistent(subscriber)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_credits_chain_their_balances():
    """Credits waiting on the account's lock read its latest balance once they get it:
    every entry's ``balance_after`` follows the one committed before it."""
    subscriber = SubscriberFactory()
    tokens.credit(subscriber, 1, kind="grant", reference="seed")

    outcomes = run_together(
        lambda i: [
            tokens.credit(subscriber, 10 + i, kind="purchase", reference=f"cs_{i}_{n}").pk
            for n in range(5)
        ]
    )

    assert [o.errors for o in outcomes] == [[]] * THREADS
    assert TokenEntry.objects.count() == 1 + 5 * THREADS
    assert tokens.balance(subscriber) == 1 + 5 * sum(10 + i for i in range(THREADS))
    assert_ledger_consistent(subscriber)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_credit_waiting_for_the_lock_adds_to_the_balance_committed_meanwhile():
    """The credit's statement takes its snapshot before it waits for the lock, held by
    a transaction that credits and commits meanwhile: it must add to that balance."""
    subscriber = SubscriberFactory()
    tokens.credit(subscriber, 1, kind="grant", reference="seed")

    entry = while_another_holds_the_lock(
        subscriber,
        lambda: tokens.credit(subscriber, 10, kind="purchase", reference="cs_first"),
        lambda: tokens.credit(subscriber, 5, kind="purchase", reference="cs_second"),
    )

    assert entry.balance_after == 16
    assert tokens.balance(subscriber) == 16
    assert_ledger_consistent(subscriber)


# --------------------------------------------------------------------------- reservations


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_reserve_and_settle_keep_the_invariants():
    subscriber = SubscriberFactory()
    initial = 400
    tokens.credit(subscriber, 250, kind="purchase", reference="cs_1")
    tokens.credit(subscriber, 150, kind="grant", reference="in_1")
    rounds = 20

    def work(i: int) -> int:
        rng = random.Random(1000 + i)
        charged = 0
        for n in range(rounds):
            # Credits, consumes and give-backs between the holds all race the
            # one-statement draws for the same credit rows.
            tokens.credit(subscriber, 3, kind="purchase", reference=f"cs-{i}-{n}")
            charged -= 3
            try:
                held = tokens.reserve(subscriber, rng.randint(1, 12), reference=f"job-{i}-{n}")
            except InsufficientTokens:
                continue
            actual = rng.choice([0, held.amount, rng.randint(0, held.amount + 5)])
            try:
                row = held.settle(actual)
            except InsufficientTokens:
                row = held.release()
            charged += row.settled_amount or 0
            with contextlib.suppress(InsufficientTokens):
                charged += -tokens.consume(subscriber, rng.randint(1, 4)).amount
        return charged

    outcomes = run_together(work)

    assert [o.errors for o in outcomes] == [[]] * THREADS
    charged = sum(o.results[0] for o in outcomes)
    assert TokenReservation.objects.filter(status=ReservationStatus.SETTLED).exists()
    assert tokens.balance(subscriber) == initial - charged
    assert TokenEntry.objects.filter(balance_after__lt=0).count() == 0
    assert TokenReservation.objects.filter(status=ReservationStatus.HELD).count() == 0
    for held in TokenReservation.objects.all():
        drawn = TokenAllocation.objects.filter(debit=held.entry).aggregate(t=Sum("amount"))
        assert drawn["t"] == held.amount
    assert_ledger_consistent(subscriber)


# --------------------------------------------------------------------------- accounts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_first_operations_from_many_threads_create_one_account():
    subscriber = SubscriberFactory()
    assert TokenAccount.objects.count() == 0

    outcomes = run_together(
        lambda i: tokens.credit(subscriber, 10 + i, kind="grant", reference=f"in_{i}").pk
    )

    assert [o.errors for o in outcomes] == [[]] * THREADS
    assert TokenAccount.objects.filter(subscriber_id=subscriber.pk).count() == 1
    assert len({o.results[0] for o in outcomes}) == THREADS
    assert TokenEntry.objects.count() == THREADS
    assert tokens.balance(subscriber) == sum(10 + i for i in range(THREADS))
    assert_ledger_consistent(subscriber)


# --------------------------------------------------------------------------- stale snapshots


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_consume_waiting_for_the_lock_sees_the_credit_committed_meanwhile():
    """The consume's statement starts (and takes its snapshot) while another
    transaction holding the lock adds an earlier-expiring credit: it must still
    draw from that credit first."""
    subscriber = SubscriberFactory()
    # Enough before the grant too, so the consume's statement does wait for the lock.
    purchase = tokens.credit(subscriber, 20, kind="purchase", reference="cs_1")
    entry = while_another_holds_the_lock(
        subscriber, lambda: grant_expiring(subscriber), lambda: tokens.consume(subscriber, 12)
    )

    assert entry.balance_after == 18
    granted = TokenEntry.objects.get(reference="in_1")
    purchase.refresh_from_db()
    assert (granted.remaining, purchase.remaining) == (0, 18)
    assert_ledger_consistent(subscriber)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_reserve_waiting_for_the_lock_draws_from_the_credit_committed_meanwhile():
    """As for a consume: the hold must draw from (and allocate to) the earlier-expiring
    credit committed while it waited, though its statement's snapshot predates it."""
    from fiko_billing.models import TokenAllocation

    subscriber = SubscriberFactory()
    purchase = tokens.credit(subscriber, 20, kind="purchase", reference="cs_1")
    held = while_another_holds_the_lock(
        subscriber, lambda: grant_expiring(subscriber), lambda: tokens.reserve(subscriber, 12)
    )

    granted = TokenEntry.objects.get(reference="in_1")
    purchase.refresh_from_db()
    assert (granted.remaining, purchase.remaining) == (0, 18)
    allocations = TokenAllocation.objects.filter(debit__reservation__pk=held.pk)
    assert sorted(allocations.values_list("grant_id", "amount")) == sorted(
        [(granted.pk, 10), (purchase.pk, 2)]
    )
    assert_ledger_consistent(subscriber)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_settle_waiting_for_the_lock_finds_the_hold_closed_meanwhile():
    """A settle whose statement's snapshot still shows the hold open, while another
    transaction holding the lock settles it and commits: the hold is given back once."""
    from fiko_billing.exceptions import ReservationClosed
    from fiko_billing.models import ReservationStatus, TokenReservation

    subscriber = SubscriberFactory()
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    held = tokens.reserve(subscriber, 40)
    with pytest.raises(ReservationClosed):
        while_another_holds_the_lock(
            subscriber, lambda: tokens.settle(held, 10), lambda: tokens.settle(held, 0)
        )

    row = TokenReservation.objects.get(pk=held.pk)
    assert (row.status, row.settled_amount) == (ReservationStatus.SETTLED, 10)
    assert tokens.balance(subscriber) == 90
    assert TokenEntry.objects.filter(kind="release").count() == 1
    assert_ledger_consistent(subscriber)
