"""``take_back``'s set-based common case against its general path: the same ledger, always.

Every story runs twice, on two subscribers: once as the ledger runs it (the
set-based statements where they apply, the general path otherwise) and once
with the set-based attempt switched off. The two ledgers must be the same row
for row (entries, what is left of each credit, allocations, balance), and each
story says which of its take-backs the set-based path must have done, so the
comparison is never between two runs of the general path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction

from fiko_billing import signals, tokens
from fiko_billing.models import EntryKind, TokenAccount, TokenAllocation, TokenEntry
from fiko_billing.tokens import claim_statements
from fiko_billing.tokens import claims as ledger_claims
from tests.factories import SubscriberFactory
from tests.test_tokens import assert_ledger_consistent
from tests.test_tokens_concurrency import run_together, while_another_holds_the_lock

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
# A take-back in the common case, inside a transaction (no savepoint): one
# statement on PostgreSQL, four on SQLite.
TAKE_BACK_QUERIES = 1 if connection.vendor == "postgresql" else 4


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


class Paths:
    """Which take-backs the set-based statements did, and a switch to the general path."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.general_only: set[Any] = set()
        self.set_based: list[str] = []
        attempt = ledger_claims._take_from_credit

        def switched(subscriber_pk: Any, *args: Any, **kwargs: Any) -> TokenEntry | None:
            if subscriber_pk in self.general_only:
                return None
            done = attempt(subscriber_pk, *args, **kwargs)
            if done is not None:
                self.set_based.append(str(done.reference))
            return done

        monkeypatch.setattr(ledger_claims, "_take_from_credit", switched)


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Paths:
    return Paths(monkeypatch)


def ledger(subscriber: Any) -> dict[str, Any]:
    """The subscriber's ledger in a form two accounts can be compared in."""
    account = TokenAccount.objects.get(subscriber_id=subscriber.pk)
    entries = list(TokenEntry.objects.filter(account=account).order_by("pk"))
    order = {entry.pk: n for n, entry in enumerate(entries)}

    def own(text: str | None) -> str | None:
        # Expiries name their credit by pk: name it by its place in this ledger.
        text = text and re.sub(r"(expiry:|#)(\d+)", lambda m: f"{m[1]}@{order[int(m[2])]}", text)
        return text and re.sub(r"release:\d+", "release:(a hold)", text)

    by_pk = {entry.pk: own(entry.reference) or f"@{n}" for n, entry in enumerate(entries)}
    allocations = sorted(
        (by_pk[a.debit_id], by_pk[a.grant_id], a.amount)
        for a in TokenAllocation.objects.filter(debit__account=account)
    )
    return {
        "balance": account.balance,
        "entries": [
            (
                e.kind,
                e.amount,
                e.balance_after,
                own(e.reference),
                by_pk.get(e.grant_id) if e.grant_id else None,
                e.remaining,
                e.expires_at,
                own(e.description),
            )
            for e in entries
        ],
        "allocations": allocations,
    }


def refund(subscriber: Any, amount: int, ref: str, **options: Any) -> TokenEntry | None:
    options.setdefault("credit_reference", "checkout:cs_1")
    return tokens.take_back(subscriber, amount, reference=f"refund:{ref}", **options)


def full_refund(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    return [refund(s, 250, "re_1", description="Refund of a package")]


def two_partial_refunds(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    return [refund(s, 100, "re_1"), refund(s, 150, "re_2", claimed_before=100)]


def last_refund_reaches_the_spent_part(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.credit(s, 50, kind=EntryKind.PURCHASE, reference="checkout:cs_2")
    tokens.consume(s, 10)  # from the first purchase
    # The second refund asks for the 10 spent too: 140 left, 150 due.
    return [refund(s, 100, "re_1"), refund(s, 150, "re_2", claimed_before=100)]


def other_credits_untouched(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 40, kind=EntryKind.GRANT, reference="in_1", expires_at=NOW + DAY)
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.credit(s, 70, kind=EntryKind.PURCHASE, reference="checkout:cs_2")
    tokens.consume(s, 30)  # from the grant, which expires first
    return [refund(s, 125, "re_1"), refund(s, 60, "re_2", claimed_before=125)]


def refund_after_spending(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.credit(s, 100, kind=EntryKind.GRANT, reference="in_1")
    tokens.consume(s, 200)  # from the purchase (both never expire; the older first)
    # 50 left in the credit, the 200 spent come from the grant (100) and a debt.
    return [refund(s, 250, "re_1")]


def partial_refund_after_spending(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.credit(s, 100, kind=EntryKind.GRANT, reference="in_1")
    tokens.consume(s, 200)
    return [refund(s, 100, "re_1"), refund(s, 100, "re_2", claimed_before=100)]


def spent_part_forgiven(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.credit(s, 100, kind=EntryKind.GRANT, reference="in_1")
    tokens.consume(s, 200)
    # Only what is left (50) is taken: the set-based path does it; then nothing is due.
    return [
        refund(s, 100, "re_1", forgive_spent=True),
        refund(s, 150, "re_2", claimed_before=100, forgive_spent=True),
    ]


def expiry_due(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 100, kind=EntryKind.GRANT, reference="checkout:cs_1", expires_at=NOW + DAY)
    tokens.credit(s, 500, kind=EntryKind.PURCHASE, reference="checkout:cs_2")
    tokens.consume(s, 30)
    clock.shift(2 * DAY)  # the grant expired; no sweep wrote it off yet
    return [refund(s, 100, "re_1")]


def expired_and_swept(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 100, kind=EntryKind.GRANT, reference="checkout:cs_1", expires_at=NOW + DAY)
    tokens.credit(s, 500, kind=EntryKind.PURCHASE, reference="checkout:cs_2")
    tokens.consume(s, 30)
    clock.shift(2 * DAY)
    tokens.expire_due(subscriber=s)
    # The expired 70 are never taken; the spent 30 come from the purchase.
    return [refund(s, 60, "re_1"), refund(s, 40, "re_2", claimed_before=60)]


def expiring_later(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 100, kind=EntryKind.GRANT, reference="checkout:cs_1", expires_at=NOW + DAY)
    return [refund(s, 40, "re_1"), refund(s, 60, "re_2", claimed_before=40)]


def a_debt(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.credit(s, 100, kind=EntryKind.PURCHASE, reference="checkout:cs_2")
    tokens.adjust(s, -400, reason="correction", reference="fix-1")  # a debt of 50
    return [refund(s, 100, "re_1", credit_reference="checkout:cs_2")]


def a_hold_past_its_expiry(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.reserve(s, 50, expires_in=timedelta(minutes=5))
    clock.shift(timedelta(hours=1))
    return [refund(s, 250, "re_1")]


def repeated(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    first = refund(s, 100, "re_1")
    again = refund(s, 100, "re_1")
    other = refund(s, 999, "re_1", claimed_before=100)  # a repeat, whatever it asks
    assert first is not None
    assert again is not None
    assert other is not None
    assert first.pk == again.pk == other.pk
    return [first, again, other]


def reference_used_elsewhere(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.consume(s, 5, reference="refund:re_1")
    return [refund(s, 100, "re_1")]


def no_such_credit(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.consume(s, 5, reference="checkout:cs_9")  # a reference that is no credit
    return [
        refund(s, 100, "re_1", credit_reference="checkout:cs_2"),
        refund(s, 100, "re_2", credit_reference="checkout:cs_9"),
    ]


def dispute_won_then_refunded(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    held = tokens.take_back(
        s,
        250,
        credit_reference="checkout:cs_1",
        reference="dispute:dp_1",
        kind=EntryKind.DISPUTE,
    )
    back = tokens.reinstate(s, claim_reference="dispute:dp_1", reference="dispute:dp_1:won")
    # The credit is empty (the dispute took it all); its tokens live in the reinstatement.
    return [held, back, refund(s, 250, "re_1")]


def dispute_then_partial_refund(s: Any, clock: Any) -> list[Any]:
    tokens.credit(s, 300, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    held = tokens.take_back(
        s,
        100,
        credit_reference="checkout:cs_1",
        reference="dispute:dp_1",
        kind=EntryKind.DISPUTE,
    )
    return [held, refund(s, 150, "re_1", claimed_before=100)]


STORIES: list[tuple[Callable[[Any, Any], list[Any]], list[str]]] = [
    # (story, the references the set-based path must have written)
    (full_refund, ["refund:re_1"]),
    (two_partial_refunds, ["refund:re_1", "refund:re_2"]),
    (last_refund_reaches_the_spent_part, ["refund:re_1"]),
    (other_credits_untouched, ["refund:re_1", "refund:re_2"]),
    (refund_after_spending, []),
    (partial_refund_after_spending, []),
    (spent_part_forgiven, ["refund:re_1"]),
    (expiry_due, []),
    (expired_and_swept, []),
    (expiring_later, ["refund:re_1", "refund:re_2"]),
    (a_debt, []),
    (a_hold_past_its_expiry, []),
    # A repeat is answered from its entry by the attempt, without the general path.
    (repeated, ["refund:re_1"] * 3),
    (reference_used_elsewhere, ["refund:re_1"]),
    (no_such_credit, []),
    (dispute_won_then_refunded, ["dispute:dp_1"]),
    (dispute_then_partial_refund, ["dispute:dp_1", "refund:re_1"]),
]


@pytest.mark.parametrize(("story", "set_based"), STORIES, ids=[s.__name__ for s, _ in STORIES])
def test_the_set_based_path_and_the_general_path_write_the_same_ledger(
    story, set_based, paths, clock
):
    general = SubscriberFactory()
    paths.general_only.add(general.pk)
    taken_general = story(general, clock)
    assert paths.set_based == []
    clock.move_to(NOW)
    ordinary = SubscriberFactory()
    taken = story(ordinary, clock)

    assert paths.set_based == set_based
    assert ledger(ordinary) == ledger(general)
    assert [None if t is None else (t.kind, t.amount) for t in taken] == [
        None if t is None else (t.kind, t.amount) for t in taken_general
    ]
    for entry in taken:
        if entry is not None and entry.kind in (EntryKind.REFUND, EntryKind.DISPUTE):
            assert_same_as_stored(entry)  # claims never change once written
    assert_ledger_consistent(ordinary)
    assert_ledger_consistent(general)


def assert_same_as_stored(entry: TokenEntry) -> None:
    """The entry returned is the row written, field for field."""
    stored = TokenEntry.objects.get(pk=entry.pk)
    for field in TokenEntry._meta.concrete_fields:
        assert getattr(entry, field.attname) == getattr(stored, field.attname), field.name


def test_what_a_story_expects_is_what_it_shows(clock):
    # The stories above keep to the rules of take_back, by numbers worked out by hand.
    s = SubscriberFactory()
    assert [e.amount for e in refund_after_spending(s, clock)] == [-250]
    assert tokens.balance(s) == -100  # 50 + 100 of the grant, 100 owed
    s = SubscriberFactory()
    assert [e and e.amount for e in spent_part_forgiven(s, clock)] == [-50, None]
    s = SubscriberFactory()
    clock.move_to(NOW)
    assert [e and e.amount for e in expired_and_swept(s, clock)] == [None, -30]
    assert [e and e.amount for e in [refund(s, 10, "re_3", claimed_before=100)]] == [None]


def test_a_take_back_from_its_credit_is_one_statement_on_postgresql(
    paths, django_assert_num_queries
):
    s = SubscriberFactory()
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    with transaction.atomic(), django_assert_num_queries(TAKE_BACK_QUERIES):
        entry = refund(s, 100, "re_1")
    assert paths.set_based == ["refund:re_1"]
    assert entry is not None
    assert entry.balance_after == 150
    # On its own it is its own transaction (a server sends BEGIN and COMMIT around it).
    with django_assert_num_queries(TAKE_BACK_QUERIES):
        refund(s, 100, "re_2", claimed_before=100)
    assert tokens.balance(s) == 50


def test_an_attempt_that_bails_out_writes_nothing_and_takes_no_savepoint(
    paths, clock, django_assert_num_queries
):
    s = SubscriberFactory()
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.consume(s, 200)
    before = ledger(s)
    with transaction.atomic():
        done = claim_statements.take_from_credit(
            s.pk,
            250,
            credit_reference="checkout:cs_1",
            reference="refund:re_1",
            claimed_before=0,
            kind=EntryKind.REFUND,
            forgive_spent=False,
            description="",
            now=NOW,
        )
        assert done is None
        assert ledger(s) == before
    assert ledger(s) == before


def rolled_back(work: Callable[[], Any]) -> None:
    """Run ``work`` in a transaction that is then rolled back."""
    with transaction.atomic():
        work()
        transaction.set_rollback(True)


def test_the_debit_signal_follows_the_commit(paths, django_capture_on_commit_callbacks):
    s = SubscriberFactory()
    tokens.credit(s, 250, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    heard: list[dict[str, Any]] = []

    def on_debit(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    signals.tokens_debited.connect(on_debit, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            entry = refund(s, 100, "re_1")
            assert heard == []
        with django_capture_on_commit_callbacks(execute=False) as dropped:
            rolled_back(lambda: refund(s, 50, "re_2", claimed_before=100))
    finally:
        signals.tokens_debited.disconnect(on_debit)
    assert paths.set_based == ["refund:re_1", "refund:re_2"]
    assert [(h["entry"], h["amount"], h["balance"], h["subscriber"]) for h in heard] == [
        (entry, 100, 150, s)
    ]
    assert dropped == []  # the rolled-back take-back's signal was dropped with it
    assert not TokenEntry.objects.filter(reference="refund:re_2").exists()


def test_a_claim_taking_nothing_still_saves_the_expiries_it_wrote(clock):
    """The general path writes due expiries off first; when nothing is left to
    take, the balance it lowered must be saved all the same."""
    s = SubscriberFactory()
    tokens.credit(s, 100, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.consume(s, 100)
    tokens.credit(s, 50, kind=EntryKind.GRANT, reference="in_1", expires_at=NOW + DAY)
    clock.shift(2 * DAY)
    assert refund(s, 100, "re_1", forgive_spent=True) is None
    assert TokenAccount.objects.get(subscriber_id=s.pk).balance == 0
    assert_ledger_consistent(s)


# --------------------------------------------------------------------------- concurrency


def take_back_while_another_holds_the_lock(s: Any, meanwhile: Callable[[], Any]) -> Any:
    """``refund`` of re_2 (after re_1's 100) started while another transaction,
    holding the lock, does ``meanwhile``: its statement's snapshot is older."""
    return while_another_holds_the_lock(
        s, meanwhile, lambda: refund(s, 100, "re_2", claimed_before=100)
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_take_back_waiting_for_the_lock_sees_the_claim_committed_meanwhile():
    """Its snapshot does not show the first refund: acting on it would take 200
    (both shares), which the credit still holds. The account row it locked is
    newer than its snapshot's, so the general path runs and takes 100."""
    s = SubscriberFactory()
    credit = tokens.credit(s, 1_000, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    entry = take_back_while_another_holds_the_lock(s, lambda: refund(s, 100, "re_1"))
    assert entry is not None
    assert (entry.amount, entry.balance_after) == (-100, 800)
    credit.refresh_from_db()
    assert credit.remaining == 800
    assert_ledger_consistent(s)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_take_back_waiting_for_the_lock_sees_the_spending_committed_meanwhile():
    s = SubscriberFactory()
    credit = tokens.credit(s, 200, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.credit(s, 500, kind=EntryKind.GRANT, reference="in_1")
    refund(s, 100, "re_1")
    entry = take_back_while_another_holds_the_lock(s, lambda: tokens.consume(s, 90))
    # 10 left in the credit, 90 spent of it: taken from the grant.
    assert entry is not None
    assert (entry.amount, entry.balance_after) == (-100, 410)
    credit.refresh_from_db()
    assert credit.remaining == 0
    assert_ledger_consistent(s)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_refunds_of_one_credit_take_each_share_once():
    """Eight refunds of one purchase, each repeated, from eight threads at once."""
    s = SubscriberFactory()
    tokens.credit(s, 800, kind=EntryKind.PURCHASE, reference="checkout:cs_1")
    tokens.credit(s, 100, kind=EntryKind.GRANT, reference="in_1")
    tokens.consume(s, 50)  # from the purchase: 750 left of it

    def work(i: int) -> None:
        for _ in range(2):
            with transaction.atomic():
                # What earlier refunds asked, as the payment's lock makes it known.
                tokens.lock_account(s)
                before = TokenEntry.objects.filter(
                    account__subscriber_id=s.pk, kind=EntryKind.REFUND
                ).exclude(reference=f"refund:re_{i}")
                refund(s, 100, f"re_{i}", claimed_before=100 * before.count())

    outcomes = run_together(work, threads=8)
    assert [outcome.errors for outcome in outcomes] == [[]] * 8
    refunds = TokenEntry.objects.filter(kind=EntryKind.REFUND)
    assert refunds.count() == 8
    # 750 left in the credit, and the 50 spent taken from the grant.
    assert sum(-e.amount for e in refunds) == 800
    assert TokenEntry.objects.get(reference="checkout:cs_1").remaining == 0
    assert TokenEntry.objects.get(reference="in_1").remaining == 50
    assert_ledger_consistent(s)
