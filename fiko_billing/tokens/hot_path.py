"""The common case of ``consume``, ``credit``, ``reserve`` and ``settle``, in few statements.

Each function here either does the whole operation in one transaction of
set-based statements (``statements``) and returns its result, or returns
``None`` having written nothing, and the caller runs the ORM path, which
handles every case (a new account, credits or holds past their expiry to
write off, a debt, a reference already used, an overage, a database without
``RETURNING``). The guarantees are the ORM path's: the first statement locks
the account only when the common case holds, and whatever a later statement
finds out of the ordinary rolls the whole attempt back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.db import connection, transaction

from fiko_billing.models import (
    EntryKind,
    ReservationStatus,
    TokenEntry,
    TokenReservation,
)
from fiko_billing.tokens import hold_statements, holds_in_one, one_statement, statements
from fiko_billing.tokens.accounts import loaded_account, loaded_entry
from fiko_billing.tokens.validation import RELEASE_DESCRIPTION

T = TypeVar("T")

_CLOSED_FIELDS = [
    *("id", "account_id", "amount", "settled_amount", "status", "reference", "entry_id"),
    *("description", "closed_at"),
]
#: A bound no balance reaches, for the side a movement cannot cross.
_UNBOUNDED = 2**62


class _NotCommon(Exception):
    """Raised inside the attempt's transaction to roll it back."""


def _attempt(operation: Callable[[], T]) -> T | None:
    if not statements.supported():
        return None
    try:
        with transaction.atomic():
            return operation()
    except _NotCommon:
        return None


def _debit(
    subscriber_pk: Any,
    amount: int,
    *,
    kind: str,
    reference: str | None,
    description: str,
    now: datetime,
    hold_until: datetime | None = None,
) -> TokenEntry:
    """Take ``amount`` from credits (never below zero) and write the debit entry.

    A hold (``hold_until``) draws afterwards, recording its allocations.
    """
    locked = statements.lock_and_move(
        subscriber_pk, -amount, now, floor=0, ceiling=_UNBOUNDED, hold_until=hold_until
    )
    if locked is None:
        raise _NotCommon
    account = loaded_account(locked[0], subscriber_pk, locked[1])
    values: dict[str, Any] = {
        "kind": kind,
        "balance_after": account.balance,
        "reference": reference,
        "description": description,
    }
    if hold_until is None:
        pk = statements.insert_debit(account.pk, amount=amount, now=now, **values)
    else:
        pk = statements.insert_entry(account.pk, amount=-amount, now=now, **values)
    if pk is None:
        raise _NotCommon  # the reference is used: the ORM path tells how
    return loaded_entry(account, pk, amount=-amount, created=now, **values)


def consume(
    subscriber_pk: Any, amount: int, *, reference: str | None, description: str, now: datetime
) -> TokenEntry | None:
    """Lock and debit the account, draw from credits, insert the entry; ``COMMIT``.

    On PostgreSQL ``BEGIN``, the lock with the work (two statements, one round
    trip) and ``COMMIT``; five statements on SQLite.
    """
    if connection.vendor != "postgresql":
        return _attempt(
            lambda: _debit(
                subscriber_pk,
                amount,
                kind=EntryKind.CONSUME,
                reference=reference,
                description=description,
                now=now,
            )
        )

    def run() -> TokenEntry:
        done = one_statement.consume_in_one(
            subscriber_pk, amount, reference=reference, description=description, now=now
        )
        if done is None:
            raise _NotCommon
        account_pk, balance, pk = done
        return loaded_entry(
            loaded_account(account_pk, subscriber_pk, balance),
            pk,
            kind=EntryKind.CONSUME,
            amount=-amount,
            balance_after=balance,
            reference=reference,
            description=description,
            created=now,
        )

    return _attempt(run)


def credit(
    subscriber_pk: Any,
    amount: int,
    *,
    kind: str,
    reference: str | None,
    expires_at: datetime | None,
    description: str,
    now: datetime,
    ceiling: int,
) -> TokenEntry | None:
    """Lock and credit the account, insert the entry.

    The lock and the work on PostgreSQL (one round trip), two statements on
    SQLite (plus ``BEGIN`` and ``COMMIT`` when no transaction is open). It
    writes nothing unless it does it all, so inside a transaction it needs no
    savepoint.
    """
    if not statements.supported():
        return None
    values: dict[str, Any] = {
        "kind": kind,
        "amount": amount,
        "reference": reference,
        "description": description,
        "expires_at": expires_at,
    }
    params = statements.credit_params(subscriber_pk, now=now, ceiling=ceiling, **values)
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            done = one_statement.credit_in_one(params)
        else:
            done = statements.insert_credit(params)
            if done is not None:
                statements.set_balance(done[1], done[2], now)
        if done is None:
            return None
        pk, account_pk, balance, remaining = done
        account = loaded_account(account_pk, subscriber_pk, balance)
        return loaded_entry(
            account, pk, balance_after=balance, remaining=remaining, created=now, **values
        )


def reserve(
    subscriber_pk: Any,
    amount: int,
    *,
    reference: str | None,
    entry_reference: str | None,
    description: str,
    now: datetime,
    expires_at: datetime,
) -> int | None:
    """Lock and debit, entry, allocations, draw, hold; ``COMMIT``.

    On PostgreSQL ``BEGIN``, the lock with the work (one round trip) and
    ``COMMIT``; seven statements on SQLite.
    Returns the reservation's pk.
    """
    if connection.vendor == "postgresql":

        def run_in_one() -> int:
            done = holds_in_one.reserve_in_one(
                subscriber_pk,
                amount,
                reference=reference,
                entry_reference=entry_reference,
                description=description,
                now=now,
                expires_at=expires_at,
            )
            if done is None:
                raise _NotCommon  # the debit may be written: roll it back
            account_pk, balance, entry_pk, hold_pk = done
            loaded_entry(
                loaded_account(account_pk, subscriber_pk, balance),
                entry_pk,
                kind=EntryKind.RESERVE,
                amount=-amount,
                balance_after=balance,
                reference=entry_reference,
                description=description,
                created=now,
            )
            return hold_pk

        return _attempt(run_in_one)

    def run() -> int:
        entry = _debit(
            subscriber_pk,
            amount,
            kind=EntryKind.RESERVE,
            reference=entry_reference,
            description=description,
            now=now,
            hold_until=expires_at,
        )
        hold_statements.draw_for(entry.pk, entry.account_id, amount, now)
        pk = hold_statements.insert_reservation(
            entry.account_id,
            amount=amount,
            reference=reference,
            entry_pk=entry.pk,
            description=description,
            now=now,
            expires_at=expires_at,
        )
        if pk is None:
            raise _NotCommon
        return pk

    return _attempt(run)


def settle(
    subscriber_pk: Any, reservation_pk: int, actual: int, now: datetime
) -> TokenReservation | None:
    """Settle a hold of at least ``actual`` tokens that is still open.

    On PostgreSQL ``BEGIN``, the lock with the work (one round trip) and
    ``COMMIT``. On SQLite, three and
    ``COMMIT`` when ``actual`` is what was held; five when some goes back (put
    back into its credits, and a release entry).
    """
    status = ReservationStatus.RELEASED if actual == 0 else ReservationStatus.SETTLED
    release_reference = f"release:{reservation_pk}"

    def run_in_one() -> TokenReservation:
        done = holds_in_one.settle_in_one(
            subscriber_pk,
            reservation_pk,
            actual,
            status=status,
            release_reference=release_reference,
            release_description=RELEASE_DESCRIPTION,
            now=now,
        )
        if done is None:
            raise _NotCommon  # the ORM path says how
        if done.release_pk is not None:
            loaded_entry(
                loaded_account(done.account_pk, subscriber_pk, done.balance),
                done.release_pk,
                kind=EntryKind.RELEASE,
                amount=done.back,
                balance_after=done.balance,
                reference=release_reference,
                description=done.release_description,
                created=now,
            )
        row = [reservation_pk, done.account_pk, done.amount, actual, status, done.reference]
        row += [done.entry_pk, done.description, now]
        return TokenReservation.from_db(connection.alias, _CLOSED_FIELDS, row)

    if connection.vendor == "postgresql":
        return _attempt(run_in_one)

    def run() -> TokenReservation:
        locked = hold_statements.lock_and_give_back(subscriber_pk, reservation_pk, actual, now)
        if locked is None:
            raise _NotCommon
        account_pk, balance, back = locked
        closed = hold_statements.close(
            reservation_pk, account_pk, status=status, actual=actual, now=now
        )
        if closed is None or closed[0] - actual != back:
            raise _NotCommon  # closed meanwhile: the ORM path says how
        amount, entry_pk, description, reference = closed
        row = [reservation_pk, account_pk, amount, actual, status, reference, entry_pk]
        row += [description, now]
        if back:
            if not hold_statements.put_back(entry_pk, back, now):
                raise _NotCommon  # a credit expired while held: it needs an expiry entry
            values: dict[str, Any] = {
                "kind": EntryKind.RELEASE,
                "amount": back,
                "balance_after": balance,
                "reference": release_reference,
                "description": description or RELEASE_DESCRIPTION,
            }
            account = loaded_account(account_pk, subscriber_pk, balance)
            pk = statements.insert_entry(account_pk, now=now, **values)
            if pk is None:
                raise _NotCommon
            loaded_entry(account, pk, created=now, **values)
        return TokenReservation.from_db(
            connection.alias,
            _CLOSED_FIELDS,
            row,
        )

    return _attempt(run)
