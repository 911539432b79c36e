"""The SQL of the ledger's common case: each write in a few set-based statements.

The ORM path (``movements``) reads the account, the credits and the holds into
Python and writes them back, about ten statements a write. In the common case
(an account that exists, no credit past its expiry waiting to be written off,
no hold past its expiry, no debt) the same work fits in three or four
statements, written here once for PostgreSQL and SQLite alike: both have
``RETURNING``, ``ON CONFLICT`` on a partial unique index, window functions and
``WITH`` before ``UPDATE``/``INSERT``.

Each statement's first guard is the account row itself: ``lock_and_move``
changes the balance only if every condition of the common case holds, and
that ``UPDATE`` is also what takes the subscriber's lock (the row lock on
PostgreSQL, the write lock on SQLite). When it matches no row, nothing was
written and the caller takes the ORM path, which handles every case.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection

from fiko_billing.models import TokenAccount, TokenAllocation, TokenEntry, TokenReservation


def supported() -> bool:
    """Whether the connection speaks the SQL below (SQLite 3.35 or later, PostgreSQL)."""
    return connection.vendor in {"postgresql", "sqlite"} and bool(
        connection.features.can_return_columns_from_insert
    )


def timestamp(value: datetime | None) -> Any:
    """``value`` as the database stores a ``DateTimeField`` (text in UTC on SQLite)."""
    return connection.ops.adapt_datetimefield_value(value)


@cache
def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "account": quote(TokenAccount._meta.db_table),
        "entry": quote(TokenEntry._meta.db_table),
        "reservation": quote(TokenReservation._meta.db_table),
        "allocation": quote(TokenAllocation._meta.db_table),
    }


@cache
def _sql(template: str, **parts: str) -> str:
    tables = _tables()
    fragments = {name: fragment.format(**tables) for name, fragment in _FRAGMENTS.items()}
    return template.format(**tables, **fragments, **parts)


def _rows(template: str, params: list[Any], **parts: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(_sql(template, **parts), params)
        # Fetch every row: SQLite finishes a RETURNING statement only then.
        return list(cursor.fetchall())


# The common case: no hold past its expiry (``holds_expire_at`` is never later
# than the first) and no credit past its expiry with tokens left in it.
_COMMON_CASE = """
    (holds_expire_at IS NULL OR holds_expire_at > %s)
    AND NOT EXISTS (
        SELECT 1 FROM {entry}
        WHERE {entry}.account_id = {account}.id
          AND {entry}.remaining > 0 AND {entry}.expires_at <= %s
    )
"""

_LOCK_AND_MOVE = """
    UPDATE {account}
    SET balance = balance + %s, updated = %s{hold}
    WHERE subscriber_id = %s AND balance + %s >= %s AND balance + %s <= %s AND {common_case}
    RETURNING id, balance
"""
# A new hold's expiry lowers ``holds_expire_at`` to it when earlier.
_LOWER_HOLDS_EXPIRY = """,
        holds_expire_at = CASE
            WHEN holds_expire_at IS NULL OR holds_expire_at > %s THEN %s
            ELSE holds_expire_at END"""


def lock_and_move(
    subscriber_pk: Any,
    delta: int,
    now: datetime,
    *,
    floor: int,
    ceiling: int,
    hold_until: datetime | None = None,
) -> tuple[int, int] | None:
    """Lock the account and add ``delta`` to its balance, in the common case only.

    The new balance must stay within ``floor`` and ``ceiling``. ``hold_until``
    (a new hold's expiry) lowers ``holds_expire_at`` to it when earlier.
    Returns the account's pk and new balance, or ``None`` (nothing written)
    when the account is missing or not in the common case.
    """
    stamp = timestamp(now)
    hold = [] if hold_until is None else [timestamp(hold_until)] * 2
    rows = _rows(
        _LOCK_AND_MOVE,
        [delta, stamp, *hold, subscriber_pk, delta, floor, delta, ceiling, stamp, stamp],
        hold="" if hold_until is None else _LOWER_HOLDS_EXPIRY,
    )
    return (int(rows[0][0]), int(rows[0][1])) if rows else None


_INSERT_ENTRY = """
    INSERT INTO {entry}
        (account_id, kind, amount, balance_after, reference, grant_id, expires_at,
         remaining, description, created)
    VALUES (%s, %s, %s, %s, %s, NULL, %s, %s, %s, %s)
    ON CONFLICT (account_id, reference) WHERE reference IS NOT NULL DO NOTHING
    RETURNING id
"""


def insert_entry(
    account_pk: int,
    *,
    kind: str,
    amount: int,
    balance_after: int,
    reference: str | None,
    description: str,
    now: datetime,
    expires_at: datetime | None = None,
    remaining: int = 0,
) -> int | None:
    """Insert an entry; its pk, or ``None`` when its reference is already used."""
    rows = _rows(
        _INSERT_ENTRY,
        [
            account_pk,
            kind,
            amount,
            balance_after,
            reference,
            timestamp(expires_at),
            remaining,
            description,
            timestamp(now),
        ],
    )
    return int(rows[0][0]) if rows else None


# The live credits in the order debits draw from them (earliest expiry first,
# never-expiring last), each with what ``%s`` tokens take from it.
_DRAWN = """
    live AS (
        SELECT id, remaining,
               SUM(remaining) OVER (
                   ORDER BY (expires_at IS NULL), expires_at, id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
               ) - remaining AS before
        FROM {entry}
        WHERE account_id = %s AND remaining > 0 AND (expires_at IS NULL OR expires_at > %s)
    ),
    drawn AS (
        SELECT id, CASE WHEN remaining < %s - before THEN remaining ELSE %s - before END AS part
        FROM live WHERE before < %s
    )
"""

_DRAW = """
    WITH {drawn}
    UPDATE {entry}
    SET remaining = remaining - (SELECT part FROM drawn WHERE drawn.id = {entry}.id)
    WHERE id IN (SELECT id FROM drawn)
    RETURNING remaining
"""


def draw(account_pk: int, amount: int, now: datetime) -> int:
    """Take ``amount`` from the live credits, earliest expiry first; the credits touched."""
    return len(_rows(_DRAW, [account_pk, timestamp(now), amount, amount, amount]))


# On PostgreSQL, the entry and the draw go in one statement: the account's lock
# is already held, so its snapshot sees every committed change to the credits.
# (SQLite cannot write in a WITH clause; there they are two statements.)
_INSERT_DEBIT_AND_DRAW = """
    WITH {drawn},
    taken AS (
        UPDATE {entry} SET remaining = {entry}.remaining - drawn.part
        FROM drawn WHERE {entry}.id = drawn.id
        RETURNING {entry}.id
    )
    INSERT INTO {entry}
        (account_id, kind, amount, balance_after, reference, grant_id, expires_at,
         remaining, description, created)
    VALUES (%s, %s, %s, %s, %s, NULL, NULL, 0, %s, %s)
    ON CONFLICT (account_id, reference) WHERE reference IS NOT NULL DO NOTHING
    RETURNING id
"""


def insert_debit(
    account_pk: int,
    *,
    kind: str,
    amount: int,
    balance_after: int,
    reference: str | None,
    description: str,
    now: datetime,
) -> int | None:
    """Insert a debit entry of ``amount`` and draw it from the live credits.

    Returns the entry's pk, or ``None`` when its reference is already used
    (then the caller rolls back: on PostgreSQL the draw has happened).
    """
    if connection.vendor != "postgresql":
        pk = insert_entry(
            account_pk,
            kind=kind,
            amount=-amount,
            balance_after=balance_after,
            reference=reference,
            description=description,
            now=now,
        )
        if pk is not None:
            draw(account_pk, amount, now)
        return pk
    params = [account_pk, timestamp(now), amount, amount, amount]
    params += [account_pk, kind, -amount, balance_after, reference, description, timestamp(now)]
    rows = _rows(_INSERT_DEBIT_AND_DRAW, params)
    return int(rows[0][0]) if rows else None


_ALLOCATE = """
    WITH {drawn}
    INSERT INTO {allocation} (debit_id, grant_id, amount)
    SELECT %s, id, part FROM drawn
"""

_DRAW_ALLOCATED = """
    UPDATE {entry}
    SET remaining = remaining - (
        SELECT amount FROM {allocation}
        WHERE {allocation}.debit_id = %s AND {allocation}.grant_id = {entry}.id
    )
    WHERE id IN (SELECT grant_id FROM {allocation} WHERE debit_id = %s)
    RETURNING remaining
"""


def draw_for(entry_pk: int, account_pk: int, amount: int, now: datetime) -> None:
    """As ``draw``, recording what was taken from each credit as allocations of ``entry_pk``."""
    with connection.cursor() as cursor:
        cursor.execute(
            _sql(_ALLOCATE), [account_pk, timestamp(now), amount, amount, amount, entry_pk]
        )
    _rows(_DRAW_ALLOCATED, [entry_pk, entry_pk])


_INSERT_RESERVATION = """
    INSERT INTO {reservation}
        (account_id, amount, settled_amount, status, reference, entry_id, description,
         created, expires_at, closed_at)
    VALUES (%s, %s, NULL, 'held', %s, %s, %s, %s, %s, NULL)
    ON CONFLICT (account_id, reference) WHERE reference IS NOT NULL DO NOTHING
    RETURNING id
"""


def insert_reservation(
    account_pk: int,
    *,
    amount: int,
    reference: str | None,
    entry_pk: int,
    description: str,
    now: datetime,
    expires_at: datetime,
) -> int | None:
    """Insert a held reservation; its pk, or ``None`` when its reference is already used."""
    rows = _rows(
        _INSERT_RESERVATION,
        [
            account_pk,
            amount,
            reference,
            entry_pk,
            description,
            timestamp(now),
            timestamp(expires_at),
        ],
    )
    return int(rows[0][0]) if rows else None


# What a settle of ``actual`` tokens gives back of a hold that is still held,
# not past its expiry and holds at least ``actual``; NULL otherwise.
_GIVEN_BACK = """
    (SELECT amount - %s FROM {reservation}
     WHERE {reservation}.id = %s AND {reservation}.account_id = {account}.id
       AND status = 'held' AND expires_at > %s AND amount >= %s)
"""

_FRAGMENTS = {"common_case": _COMMON_CASE, "drawn": _DRAWN, "given_back": _GIVEN_BACK}

_LOCK_AND_GIVE_BACK = """
    UPDATE {account}
    SET balance = balance + COALESCE({given_back}, 0), updated = %s
    WHERE subscriber_id = %s AND balance >= 0 AND {common_case}
    RETURNING id, balance, {given_back}
"""


def lock_and_give_back(
    subscriber_pk: Any, reservation_pk: int, actual: int, now: datetime
) -> tuple[int, int, int] | None:
    """Lock the account and add to its balance what settling ``actual`` gives back.

    Only in the common case, with no debt and the hold still open and
    sufficient. Returns the account's pk, its new balance and the tokens
    given back, or ``None``: then nothing changed (a ``None`` given back means
    the hold is not in the common case; the balance stayed as it was).
    """
    stamp = timestamp(now)
    back = [actual, reservation_pk, stamp, actual]
    rows = _rows(_LOCK_AND_GIVE_BACK, [*back, stamp, subscriber_pk, stamp, stamp, *back])
    if not rows or rows[0][2] is None:
        return None
    return int(rows[0][0]), int(rows[0][1]), int(rows[0][2])


_CLOSE = """
    UPDATE {reservation}
    SET status = %s, settled_amount = %s, closed_at = %s
    WHERE id = %s AND account_id = %s AND status = 'held' AND expires_at > %s AND amount >= %s
    RETURNING amount, entry_id, description, reference
"""


def close(
    reservation_pk: int, account_pk: int, *, status: str, actual: int, now: datetime
) -> tuple[int, int, str, str | None] | None:
    """Close a hold that is still open; its amount, entry, description and reference."""
    stamp = timestamp(now)
    rows = _rows(_CLOSE, [status, actual, stamp, reservation_pk, account_pk, stamp, actual])
    if not rows:
        return None
    amount, entry_pk, description, reference = rows[0]
    return int(amount), int(entry_pk), description, reference


# The credits a hold drew from, latest expiry first (never-expiring first of
# all), each with what giving back ``%s`` tokens returns to it.
_PUT_BACK = """
    WITH held AS (
        SELECT {allocation}.grant_id AS id, {allocation}.amount,
               SUM({allocation}.amount) OVER (
                   ORDER BY ({entry}.expires_at IS NULL) DESC, {entry}.expires_at DESC,
                            {allocation}.grant_id DESC
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
               ) - {allocation}.amount AS before
        FROM {allocation} JOIN {entry} ON {entry}.id = {allocation}.grant_id
        WHERE {allocation}.debit_id = %s
    ),
    back AS (
        SELECT id, CASE WHEN amount < %s - before THEN amount ELSE %s - before END AS part
        FROM held WHERE before < %s
    )
    UPDATE {entry}
    SET remaining = remaining + (SELECT part FROM back WHERE back.id = {entry}.id)
    WHERE id IN (SELECT id FROM back)
    RETURNING expires_at IS NOT NULL AND expires_at <= %s
"""


def put_back(entry_pk: int, amount: int, now: datetime) -> bool:
    """Return ``amount`` to the credits the hold ``entry_pk`` drew from, latest expiry first.

    False when one of them has expired meanwhile: that needs an expiry entry,
    which the ORM path writes, so the caller rolls back and takes it.
    """
    rows = _rows(_PUT_BACK, [entry_pk, amount, amount, amount, timestamp(now)])
    return not any(expired for (expired,) in rows)
