"""PostgreSQL only: a whole ``consume`` or ``credit`` in one statement after the lock.

PostgreSQL can write inside ``WITH``, so the debit, the draw from the credits
and the entry fit in one statement. It follows the account's lock, a statement
of its own sent in the same round trip (``statements.execute_locked``), so the
round trips are as many as a bare ``UPDATE``'s. SQLite cannot write inside
``WITH``; there ``statements`` does the same work in a few statements.
``holds_in_one`` does the same for ``reserve`` and ``settle``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

from fiko_billing.models import EntryKind
from fiko_billing.tokens.statements import execute_locked, render_named, timestamp

# PostgreSQL only: a whole consume in one statement, run once the account's
# lock is held (``execute_locked``), so its snapshot shows every ledger row of
# the subscriber as it is, and no credit changes until the commit: the credits
# are read without locking each one, and only as many as the draw can need (a
# consume from an account of hundreds of small credits would otherwise read
# and lock every one). The checks stay as a second line: the draw and the
# entry happen only if the credits read cover the amount (as live credits
# always do while the balance covers it), and the caller rolls back unless
# every credit drawn was written.
DEBIT_AND_DRAW = """
    WITH acct AS (
        UPDATE {account} SET balance = balance - %(amount)s, updated = %(now)s{hold}
        WHERE subscriber_id = %(subscriber)s AND balance >= %(amount)s AND {common_case}
        RETURNING id, balance
    ),
    live AS (
        -- Each live credit holds at least one token, so the first ``amount`` in
        -- drawing order are all a draw can need (the index on live credits
        -- gives them in order without reading the rest).
        SELECT id, remaining, expires_at FROM {entry}
        WHERE account_id = (SELECT id FROM acct) AND remaining > 0
          AND (expires_at IS NULL OR expires_at > %(now)s)
        ORDER BY expires_at NULLS LAST, id
        LIMIT %(amount)s
    ),
    checked AS (
        SELECT id, balance FROM acct
        WHERE (SELECT COALESCE(SUM(remaining), 0) FROM live) >= %(amount)s
    ),
    drawn AS (
        SELECT id, remaining, CASE WHEN remaining < %(amount)s - before THEN remaining
                                   ELSE %(amount)s - before END AS part
        FROM (
            SELECT id, remaining, SUM(remaining) OVER (
                       ORDER BY (expires_at IS NULL), expires_at, id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                   ) - remaining AS before
            FROM live
        ) AS ranked
        WHERE before < %(amount)s AND EXISTS (SELECT 1 FROM checked)
    ),
    taken AS (
        -- From the value read, and only where the row still holds it (a second
        -- line: a statement that waited for a lock inside itself was seen to
        -- find other versions here); the caller compares the rows drawn and
        -- taken, and rolls back when they differ.
        UPDATE {entry} SET remaining = drawn.remaining - drawn.part
        FROM drawn WHERE {entry}.id = drawn.id AND {entry}.remaining = drawn.remaining
        RETURNING {entry}.id
    ),
    written AS (
        INSERT INTO {entry}
            (account_id, kind, amount, balance_after, reference, grant_id, expires_at,
             remaining, description, created)
        SELECT id, %(kind)s, -%(amount)s, balance, %(reference)s, NULL, NULL, 0,
               %(description)s, %(now)s
        FROM checked
        ON CONFLICT (account_id, reference) WHERE reference IS NOT NULL DO NOTHING
        RETURNING id, account_id
    )"""

CONSUME_SQL = (
    DEBIT_AND_DRAW.replace("{hold}", "")  # noqa: S608 - constant SQL, bound values
    + """
    SELECT (SELECT id FROM acct), (SELECT balance FROM acct), (SELECT id FROM written),
           (SELECT count(*) FROM drawn) = (SELECT count(*) FROM taken)
"""
)


def consume_in_one(
    subscriber_pk: Any, amount: int, *, reference: str | None, description: str, now: datetime
) -> tuple[int, int, int] | None:
    """PostgreSQL: the lock, then debit, draw and entry in one statement.

    Returns the account's pk, its new balance and the entry's pk; ``None``
    when it wrote nothing, or something the caller must roll back (the
    account's debit without an entry: a used reference, or a credit the
    snapshot missed).
    """
    stamp = timestamp(now)
    params = {
        "amount": amount,
        "now": stamp,
        "subscriber": subscriber_pk,
        "kind": EntryKind.CONSUME.value,
        "reference": reference,
        "description": description,
    }
    with connection.cursor() as cursor:
        execute_locked(cursor, render_named(CONSUME_SQL), params)
        account_pk, balance, entry_pk, all_taken = cursor.fetchone()
    if entry_pk is None or not all_taken:
        return None
    return int(account_pk), int(balance), int(entry_pk)


# PostgreSQL only: a whole credit in one statement, after the lock. The account
# is read (FOR UPDATE, as a second line), the entry inserted from
# it, and the balance moved only to the entry's ``balance_after``, only if the
# entry was inserted: when the reference is used, or the account is missing or
# not in the common case, the statement writes nothing, so the caller needs no
# savepoint to undo it.
CREDIT_SQL = """
    WITH acct AS (
        SELECT id, balance + %(amount)s AS balance FROM {account}
        WHERE subscriber_id = %(subscriber)s AND balance + %(amount)s <= %(ceiling)s
          AND {common_case}
        FOR UPDATE
    ),
    written AS (
        INSERT INTO {entry}
            (account_id, kind, amount, balance_after, reference, grant_id, expires_at,
             remaining, description, created)
        SELECT id, %(kind)s, %(amount)s, balance, %(reference)s, NULL, %(expires_at)s,
               CASE WHEN balance < 0 THEN 0 WHEN balance < %(amount)s THEN balance
                    ELSE %(amount)s END,
               %(description)s, %(now)s
        FROM acct
        ON CONFLICT (account_id, reference) WHERE reference IS NOT NULL DO NOTHING
        RETURNING id, account_id, balance_after, remaining
    ),
    moved AS (
        UPDATE {account} SET balance = written.balance_after, updated = %(now)s
        FROM written WHERE {account}.id = written.account_id
        RETURNING {account}.id
    )
    SELECT written.*, (SELECT count(*) FROM moved) FROM written
"""


def credit_in_one(params: dict[str, Any]) -> tuple[int, int, int, int] | None:
    """PostgreSQL: the lock, then credit and entry in one statement (tokens first pay a debt).

    ``params`` come from ``statements.credit_params``. Returns the entry's pk,
    the account's pk, the new balance and the entry's ``remaining``; ``None``
    when it wrote nothing (the caller takes the general path).
    """
    with connection.cursor() as cursor:
        execute_locked(cursor, render_named(CREDIT_SQL), params)
        row = cursor.fetchone()
    if row is None:
        return None
    entry_pk, account_pk, balance, remaining, moved = row
    if moved != 1:
        # An entry without its balance must never commit; without a savepoint
        # to undo it, the error makes the caller's transaction roll back.
        raise RuntimeError(f"credit entry {entry_pk} was written without its balance")
    return int(entry_pk), int(account_pk), int(balance), int(remaining)
