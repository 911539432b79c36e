"""Ledger arguments are checked before the database sees them, and holds expire.

Before, ``credit(10**30)``, a balance past 64 bits, a description over 255
characters or a reference with NUL raised ``DataError`` from the database
(PostgreSQL) instead of ``ValueError``; ``revoke(2**63 - 1)`` was accepted;
closing another subscriber's reservation raised ``DoesNotExist``; and a
worker that died between ``reserve`` and ``settle`` held the tokens forever.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum

from fiko_billing import tokens
from fiko_billing.exceptions import (
    InsufficientTokens,
    ReservationClosed,
    ReservationExpired,
    ReservationNotFound,
    TokenError,
)
from fiko_billing.models import (
    EntryKind,
    ReservationStatus,
    TokenAccount,
    TokenEntry,
    TokenReservation,
)
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def ledger_consistent(subscriber: Any) -> None:
    account = TokenAccount.objects.get(subscriber=subscriber)
    total = TokenEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"] or 0
    assert account.balance == total


# ---------------------------------------------------------------------- bounds


@pytest.mark.parametrize(
    "call",
    [
        lambda s: tokens.credit(s, 10**30, kind="purchase", reference="r"),
        lambda s: tokens.credit(s, 2**63, kind="purchase", reference="r"),
        lambda s: tokens.credit(s, tokens.MAX_AMOUNT + 1, kind="purchase", reference="r"),
        lambda s: tokens.consume(s, 2**63 - 1),
        lambda s: tokens.revoke(s, 2**63 - 1, reference="r"),
        lambda s: tokens.revoke(s, tokens.MAX_AMOUNT + 1, reference="r"),
        lambda s: tokens.reserve(s, 10**19),
        lambda s: tokens.adjust(s, -(2**63), reason="x"),
        lambda s: tokens.adjust(s, 10**30, reason="x"),
    ],
    ids=lambda _c: "",
)
def test_amounts_beyond_the_maximum_are_value_errors(subscriber: Any, call: Any) -> None:
    with pytest.raises(ValueError, match="MAX_AMOUNT"):
        call(subscriber)
    assert not TokenEntry.objects.exists()


def test_the_maximum_itself_is_accepted(subscriber: Any) -> None:
    tokens.credit(subscriber, tokens.MAX_AMOUNT, kind="purchase", reference="r")
    assert tokens.balance(subscriber) == tokens.MAX_AMOUNT


def test_a_balance_cannot_grow_or_fall_past_its_bound(
    subscriber: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "MAX_BALANCE", 100)
    tokens.credit(subscriber, 60, kind="purchase", reference="a")
    with pytest.raises(ValueError, match="MAX_BALANCE"):
        tokens.credit(subscriber, 41, kind="purchase", reference="b")
    tokens.credit(subscriber, 40, kind="purchase", reference="c")
    with pytest.raises(ValueError, match="MAX_BALANCE"):
        tokens.revoke(subscriber, 201, reference="d")
    tokens.revoke(subscriber, 200, reference="e")
    assert tokens.balance(subscriber) == -100
    ledger_consistent(subscriber)


def test_a_settle_beyond_the_maximum_is_a_value_error(subscriber: Any) -> None:
    tokens.credit(subscriber, 10, kind="purchase", reference="a")
    held = tokens.reserve(subscriber, 5)
    with pytest.raises(ValueError, match="MAX_AMOUNT"):
        held.settle(2**63)
    assert TokenReservation.objects.get().status == ReservationStatus.HELD


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: tokens.credit(s, 1, kind="grant", reference="r", description="d" * 256), "255"),
        (lambda s: tokens.consume(s, 1, description="x" * 256), "255"),
        (lambda s: tokens.credit(s, 1, kind="grant", reference="in_\x00"), "NUL"),
        (lambda s: tokens.credit(s, 1, kind="grant", reference="r", description="a\x00"), "NUL"),
        (lambda s: tokens.consume(s, 1, reference="\ud800"), "surrogate"),
        (lambda s: tokens.revoke(s, 1, reference="r", grant_reference="g\x00"), "NUL"),
        (lambda s: tokens.reserve(s, 1, reference="job\x00"), "NUL"),
        (lambda s: tokens.reserve(s, 1, description=b"bytes"), "str"),
        (lambda s: tokens.adjust(s, 5, reason="r" * 256), "255"),
        (lambda s: tokens.adjust(s, 5, reason="why\x00"), "NUL"),
        (lambda s: tokens.adjust(s, 5, reason=None), "reason"),
        (
            lambda s: tokens.credit(
                s, 1, kind="grant", reference="r", expires_at=datetime(2099, 1, 1)
            ),
            "timezone-aware",
        ),
        (
            lambda s: tokens.credit(s, 1, kind="grant", reference="r", expires_at="2099"),
            "datetime",
        ),
        (lambda s: tokens.get_reservation(s, "r\x00"), "NUL"),
    ],
    ids=lambda v: "" if callable(v) else v,
)
def test_text_and_dates_are_checked_before_the_database(
    subscriber: Any, call: Any, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        call(subscriber)
    assert not TokenEntry.objects.exists()


def test_closing_another_subscribers_reservation_is_the_documented_error(subscriber: Any) -> None:
    other = SubscriberFactory()
    tokens.credit(other, 50, kind="purchase", reference="a")
    theirs = tokens.reserve(other, 20, reference="job")
    forged = tokens.Reservation(theirs.pk, subscriber, theirs.amount, theirs.reference)
    for close in (lambda: tokens.settle(forged, 20), lambda: tokens.release(forged)):
        with pytest.raises(ReservationNotFound) as raised:
            close()
        assert isinstance(raised.value, TokenError)
        assert isinstance(raised.value, LookupError)
    assert TokenReservation.objects.get().status == ReservationStatus.HELD
    assert tokens.balance(other) == 30


def test_a_reservation_is_not_a_tuple(subscriber: Any) -> None:
    with pytest.raises(TypeError, match=r"tokens\.Reservation"):
        tokens.settle((1, subscriber, 5, None), 5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- holds expire


def test_a_hold_expires_after_the_default_timeout(
    subscriber: Any, clock: Any, settings: Any
) -> None:
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "RESERVATION_TIMEOUT": 600}
    tokens.credit(subscriber, 100, kind="purchase", reference="a")
    held = tokens.reserve(subscriber, 40, reference="job")
    assert held.expires_at == NOW + timedelta(seconds=600)
    assert tokens.balance(subscriber) == 60
    clock.move_to(NOW + timedelta(seconds=601))
    assert tokens.expire_due() == 0  # no credit expired; the hold was given back
    row = TokenReservation.objects.get()
    assert (row.status, row.settled_amount, row.closed_at) == (
        ReservationStatus.EXPIRED,
        0,
        NOW + timedelta(seconds=601),
    )
    assert tokens.balance(subscriber) == 100
    release = TokenEntry.objects.get(kind=EntryKind.RELEASE)
    assert (release.amount, release.reference) == (40, f"release:{row.pk}")
    ledger_consistent(subscriber)


def test_the_timeout_can_be_given_per_call(subscriber: Any, clock: Any) -> None:
    tokens.credit(subscriber, 100, kind="purchase", reference="a")
    short = tokens.reserve(subscriber, 10, expires_in=30)
    long = tokens.reserve(subscriber, 10, expires_in=timedelta(days=2))
    assert short.expires_at == NOW + timedelta(seconds=30)
    assert long.expires_at == NOW + timedelta(days=2)
    clock.move_to(NOW + HOUR)
    tokens.expire_due()
    statuses = dict(TokenReservation.objects.values_list("pk", "status"))
    assert statuses == {short.pk: ReservationStatus.EXPIRED, long.pk: ReservationStatus.HELD}
    assert tokens.balance(subscriber) == 90


@pytest.mark.parametrize("expires_in", [0, -1, 30 * 86400 + 1, timedelta(0), 1.5, True, "60"])
def test_an_unusable_timeout_is_a_value_error(subscriber: Any, expires_in: Any) -> None:
    tokens.credit(subscriber, 10, kind="purchase", reference="a")
    with pytest.raises(ValueError, match="expires_in"):
        tokens.reserve(subscriber, 5, expires_in=expires_in)
    assert not TokenReservation.objects.exists()


def test_settling_an_expired_hold_raises_and_the_tokens_stay_given_back(
    subscriber: Any, clock: Any
) -> None:
    tokens.credit(subscriber, 100, kind="purchase", reference="a")
    held = tokens.reserve(subscriber, 40, expires_in=60)
    clock.move_to(NOW + HOUR)  # nobody swept yet
    with pytest.raises(ReservationExpired) as raised:
        held.settle(30)
    assert isinstance(raised.value, ReservationClosed)
    assert TokenReservation.objects.get().status == ReservationStatus.EXPIRED
    assert tokens.balance(subscriber) == 100
    assert held.release().status == ReservationStatus.EXPIRED  # releasing it is harmless
    ledger_consistent(subscriber)


def test_settling_a_hold_closed_before_still_gives_other_expired_holds_back(
    subscriber: Any, clock: Any
) -> None:
    tokens.credit(subscriber, 100, kind="purchase", reference="a")
    first = tokens.reserve(subscriber, 10, expires_in=60)
    clock.move_to(NOW + HOUR)
    tokens.reserve(subscriber, 50, expires_in=60)  # a write: the first hold goes back
    clock.move_to(NOW + 2 * HOUR)
    with pytest.raises(ReservationExpired):
        first.settle(10)
    # Settling took the ledger's lock, so the second expired hold went back too.
    assert TokenAccount.objects.get(subscriber_id=subscriber.pk).balance == 100
    assert set(TokenReservation.objects.values_list("status", flat=True)) == {
        ReservationStatus.EXPIRED
    }
    ledger_consistent(subscriber)


def test_any_ledger_write_gives_expired_holds_back_first(subscriber: Any, clock: Any) -> None:
    tokens.credit(subscriber, 100, kind="purchase", reference="a")
    tokens.reserve(subscriber, 100, expires_in=60)
    with pytest.raises(InsufficientTokens):
        tokens.consume(subscriber, 1)
    clock.move_to(NOW + HOUR)
    tokens.consume(subscriber, 100)  # possible only with the hold given back
    assert tokens.balance(subscriber) == 0
    ledger_consistent(subscriber)


def test_a_hold_on_an_expiring_grant_gives_back_only_what_is_still_valid(
    subscriber: Any, clock: Any
) -> None:
    tokens.credit(subscriber, 100, kind="grant", reference="in_1", expires_at=NOW + 2 * HOUR)
    tokens.reserve(subscriber, 30, expires_in=timedelta(hours=3))
    clock.move_to(NOW + 4 * HOUR)
    assert tokens.expire_due() == 100  # 70 free, then the 30 the hold gives back
    assert tokens.balance(subscriber) == 0
    ledger_consistent(subscriber)


def test_no_query_is_spent_on_holds_that_are_not_due(
    subscriber: Any, clock: Any, django_assert_num_queries: Any
) -> None:
    tokens.credit(subscriber, 100, kind="purchase", reference="a")
    tokens.reserve(subscriber, 10, expires_in=HOUR)
    # The same count as without holds: lock and debit the account, the entry, the draw
    # (one statement on PostgreSQL), in a savepoint.
    with django_assert_num_queries(3 if connection.vendor == "postgresql" else 5):
        tokens.consume(subscriber, 1)


# ---------------------------------------------------------------------- another process


def test_another_process_finds_the_hold_by_reference_and_settles_it(subscriber: Any) -> None:
    tokens.credit(subscriber, 100, kind="purchase", reference="a")
    tokens.reserve(subscriber, 40, reference="render:7", description="Render 7")
    found = tokens.get_reservation(subscriber, "render:7")
    assert (found.amount, found.reference, found.subscriber) == (40, "render:7", subscriber)
    found.settle(25)
    assert tokens.balance(subscriber) == 75
    again = tokens.get_reservation(subscriber, "render:7")
    assert again.settle(25).status == ReservationStatus.SETTLED  # repeated: harmless
    with pytest.raises(ReservationClosed):
        again.settle(30)


def test_get_reservation_finds_only_the_subscribers_own(subscriber: Any) -> None:
    other = SubscriberFactory()
    tokens.credit(other, 10, kind="purchase", reference="a")
    tokens.reserve(other, 5, reference="job")
    with pytest.raises(ReservationNotFound):
        tokens.get_reservation(subscriber, "job")
    with pytest.raises(ReservationNotFound):
        tokens.get_reservation(subscriber, "never")
    with pytest.raises(ValueError, match="non-empty"):
        tokens.get_reservation(subscriber, None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- under concurrency


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sweep_and_late_settles_racing_give_the_hold_back_exactly_once() -> None:
    subscriber = SubscriberFactory()
    tokens.credit(subscriber, 100, kind="purchase", reference="a")
    held = tokens.reserve(subscriber, 40, reference="job", expires_in=1)
    later = datetime.now(tz=UTC) + HOUR
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def sweep() -> None:
        try:
            barrier.wait()
            tokens.expire_due(now=later)
            outcomes.append("swept")
        finally:
            connection.close()

    def settle() -> None:
        try:
            barrier.wait()
            with time_machine.travel(later, tick=False):
                tokens.get_reservation(subscriber, "job").settle(30)
            outcomes.append("settled")
        except ReservationExpired:
            outcomes.append("expired")
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    threads += [threading.Thread(target=settle) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["expired"] * 3 + ["swept"] * 3
    assert TokenEntry.objects.filter(kind=EntryKind.RELEASE).count() == 1
    assert TokenReservation.objects.get(pk=held.pk).status == ReservationStatus.EXPIRED
    assert tokens.balance(subscriber) == 100
    ledger_consistent(subscriber)
