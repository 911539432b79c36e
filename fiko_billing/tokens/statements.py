"""The SQL of the ledger's common case: each write in a few set-based statements.

The ORM path (``movements``) reads the account, the credits and the holds into
Python and writes them back, about ten statements a write. In the common case
(an account that exists, no credit past its expiry waiting to be written off,
no hold past its expiry, no debt) the same work fits in a few statements,
written here once for PostgreSQL and SQLite alike: both have ``RETURNING``,
``ON CONFLICT`` on a partial unique index, window functions and ``WITH``
before ``UPDATE``/``INSERT``. ``hold_statements`` has those of reservations;
``one_statement`` fits a consume or a credit in one statement (after the
lock) on PostgreSQL.

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
def render(template: str, **parts: str) -> str:
    """``template`` with the tables' names and the shared fragments (or ``parts``) in it."""
    tables = _tables()
    fragments = {"common_case": COMMON_CASE, "drawn": DRAWN, **parts}
    return template.format(**tables, **{k: v.format(**tables) for k, v in fragments.items()})


@cache
def render_named(template: str) -> str:
    """``render`` for named parameters: the common case's two timestamps are ``now``."""
    return render(template).replace("%s", "%(now)s")


def rows(template: str, params: list[Any], **parts: str) -> list[tuple[Any, ...]]:
    """Every row ``template`` returns, rendered, with ``params``."""
    with connection.cursor() as cursor:
        cursor.execute(render(template, **parts), params)
        # Fetch every row: SQLite finishes a RETURNING statement only then.
        return list(cursor.fetchall())


_LOCK = "SELECT id FROM {account} WHERE subscriber_id = %(subscriber)s FOR UPDATE"

# The account created, or written to when it exists: locked either way (the row
# lock on PostgreSQL, the write lock on SQLite), a concurrent creator waited
# for, not raced.
_UPSERT_ACCOUNT = """
    INSERT INTO {account} (subscriber_id, balance, holds_expire_at, updated)
    VALUES (%s, 0, NULL, %s)
    ON CONFLICT (subscriber_id) DO UPDATE SET updated = excluded.updated
    RETURNING id
"""


def upsert_account(subscriber_pk: Any, now: datetime) -> int:
    """Create or touch the subscriber's account, so it is locked; its pk."""
    (found,) = rows(_UPSERT_ACCOUNT, [subscriber_pk, timestamp(now)])
    return int(found[0])


def execute_locked(cursor: Any, sql: str, params: dict[str, Any]) -> None:
    """PostgreSQL: take the account's row lock, then run ``sql`` as a statement of its own.

    A statement's snapshot is taken before it waits for a lock; rows that
    other transactions changed meanwhile are then seen, by the updates of
    that same statement, in versions other than the ones its ``FOR UPDATE``
    reads returned (seen under concurrent give-backs: draws skipped or
    computed from an older ``remaining``). Locking in a statement of its own
    means the one that does the work starts after the wait, with a snapshot
    in which every ledger row of the subscriber is current. With psycopg's
    client-side binding (Django's default) both statements travel in one
    round trip; ``params`` must name the subscriber ``subscriber``.
    """
    lock = render_named(_LOCK)
    if _client_side_binding(cursor.cursor):
        cursor.execute(f"{lock};\n{sql}", params)
        cursor.cursor.nextset()  # the second statement's rows
    else:
        cursor.execute(lock, params)
        cursor.execute(sql, params)


def _client_side_binding(raw: Any) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg2 binds server-side only in name
        return False
    return isinstance(raw, psycopg.ClientCursor)


# The common case: no hold past its expiry (``holds_expire_at`` is never later
# than the first) and no credit past its expiry with tokens left in it.
COMMON_CASE = """
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
    found = rows(
        _LOCK_AND_MOVE,
        [delta, stamp, *hold, subscriber_pk, delta, floor, delta, ceiling, stamp, stamp],
        hold="" if hold_until is None else _LOWER_HOLDS_EXPIRY,
    )
    return (int(found[0][0]), int(found[0][1])) if found else None


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
    found = rows(
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
    return int(found[0][0]) if found else None


# A credit's entry, inserted from the account row only in the common case and
# only for a new reference; the balance follows with ``set_balance``. Written
# in this order, a credit that cannot take the common case writes nothing, so
# it needs no savepoint to be undone. The entry's ``remaining`` is what is left
# of ``amount`` after paying a debt.
_CREDIT_ENTRY = """
    INSERT INTO {entry}
        (account_id, kind, amount, balance_after, reference, grant_id, expires_at,
         remaining, description, created)
    SELECT id, %(kind)s, %(amount)s, balance + %(amount)s, %(reference)s, NULL, %(expires_at)s,
           CASE WHEN balance + %(amount)s < 0 THEN 0 WHEN balance < 0 THEN balance + %(amount)s
                ELSE %(amount)s END,
           %(description)s, %(now)s
    FROM {account}
    WHERE subscriber_id = %(subscriber)s AND balance + %(amount)s <= %(ceiling)s
      AND {common_case}
    ON CONFLICT (account_id, reference) WHERE reference IS NOT NULL DO NOTHING
    RETURNING id, account_id, balance_after, remaining
"""


def credit_params(
    subscriber_pk: Any,
    amount: int,
    *,
    kind: str,
    reference: str | None,
    expires_at: datetime | None,
    description: str,
    now: datetime,
    ceiling: int,
) -> dict[str, Any]:
    """The named parameters of a credit's statements, here and in ``one_statement``."""
    return {
        "amount": amount,
        "now": timestamp(now),
        "subscriber": subscriber_pk,
        "ceiling": ceiling,
        "kind": kind,
        "reference": reference,
        "expires_at": timestamp(expires_at),
        "description": description,
    }


def insert_credit(params: dict[str, Any]) -> tuple[int, int, int, int] | None:
    """The credit's entry (``params`` from ``credit_params``); its pk, the account's pk,
    its new balance and ``remaining``.

    ``None`` (nothing written) when the account is missing, not in the common
    case, or the reference is used. The caller then sets the account's balance
    (``set_balance``) in the same transaction.
    """
    with connection.cursor() as cursor:
        cursor.execute(render_named(_CREDIT_ENTRY), params)
        found = list(cursor.fetchall())
    if not found:
        return None
    entry_pk, account_pk, balance, remaining = found[0]
    return int(entry_pk), int(account_pk), int(balance), int(remaining)


_SET_BALANCE = "UPDATE {account} SET balance = %s, updated = %s WHERE id = %s"


def set_balance(account_pk: int, balance: int, now: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(render(_SET_BALANCE), [balance, timestamp(now), account_pk])


# The live credits in the order debits draw from them (earliest expiry first,
# never-expiring last), each with what a draw of the amount takes from it. Each
# live credit holds at least one token, so the first ``amount`` credits in that
# order are all a draw can need; reading only those keeps a draw from an account
# of thousands of small credits about as cheap as from one of a few.
DRAWN = """
    live AS (
        SELECT id, remaining,
               SUM(remaining) OVER (
                   ORDER BY (expires_at IS NULL), expires_at, id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
               ) - remaining AS before
        FROM (
            SELECT id, remaining, expires_at FROM {entry}
            WHERE account_id = %s AND remaining > 0 AND (expires_at IS NULL OR expires_at > %s)
            ORDER BY (expires_at IS NULL), expires_at, id
            LIMIT %s
        ) AS first_live
    ),
    drawn AS (
        SELECT id, CASE WHEN remaining < %s - before THEN remaining ELSE %s - before END AS part
        FROM live WHERE before < %s
    )
"""

# What giving ``{back}`` tokens back to the hold ``{debit}`` returns to each
# credit it drew from: latest expiry first (never-expiring first of all), so
# the tokens that stay spent are the ones that expire first. Written once for
# PostgreSQL's one-statement settle and SQLite's put-back (``put_back_ctes``).
PUT_BACK = """
    held AS (
        SELECT {allocation}.grant_id AS id, {allocation}.amount,
               SUM({allocation}.amount) OVER (
                   ORDER BY ({entry}.expires_at IS NULL) DESC, {entry}.expires_at DESC,
                            {allocation}.grant_id DESC
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
               ) - {allocation}.amount AS before
        FROM {allocation} JOIN {entry} ON {entry}.id = {allocation}.grant_id
        WHERE {allocation}.debit_id = {debit}
    ),
    back AS (
        SELECT id, CASE WHEN amount < {back} - before THEN amount
                        ELSE {back} - before END AS part
        FROM held WHERE before < {back}
    )"""


def put_back_ctes(debit: str, back: str) -> str:
    """``PUT_BACK`` for the hold whose debit entry is the SQL ``debit``, giving back
    the SQL ``back`` tokens (placeholders or subqueries of the statement)."""
    return PUT_BACK.replace("{debit}", debit).replace("{back}", back)


_DRAW = """
    WITH {drawn}
    UPDATE {entry}
    SET remaining = remaining - (SELECT part FROM drawn WHERE drawn.id = {entry}.id)
    WHERE id IN (SELECT id FROM drawn)
    RETURNING remaining
"""


def draw(account_pk: int, amount: int, now: datetime) -> int:
    """Take ``amount`` from the live credits, earliest expiry first; the credits touched."""
    return len(rows(_DRAW, [account_pk, timestamp(now), amount, amount, amount, amount]))


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

    Returns the entry's pk, or ``None`` (nothing drawn) when its reference is
    already used.
    """
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
