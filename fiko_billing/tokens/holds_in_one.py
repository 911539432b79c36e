"""PostgreSQL only: a whole ``reserve`` or ``settle`` in one statement after the lock.

As ``one_statement`` does for a consume and a credit: after the account's
lock (in the same round trip), every row a hold writes (the debit, the
allocations to the credits drawn, the hold; on settle, the hold closed, the
unused part given back to its credits and the release entry) in one statement
between ``BEGIN`` and ``COMMIT``.
Whatever the result shows out of the ordinary, the caller rolls back and
takes the general path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from fiko_billing.models import EntryKind
from fiko_billing.tokens.one_statement import DEBIT_AND_DRAW
from fiko_billing.tokens.statements import (
    execute_locked,
    put_back_ctes,
    render_named,
    timestamp,
)

# A reserve is a consume that also lowers the account's first hold expiry to
# the hold's, records what it drew from each credit (the allocations a settle
# gives back to) and inserts the hold.
RESERVE_SQL = (
    DEBIT_AND_DRAW.replace(  # noqa: S608 - constant SQL, bound values
        "{hold}",
        """,
            holds_expire_at = CASE
                WHEN holds_expire_at IS NULL OR holds_expire_at > %(until)s THEN %(until)s
                ELSE holds_expire_at END""",
    )
    + """,
    allocated AS (
        INSERT INTO {allocation} (debit_id, grant_id, amount)
        SELECT written.id, drawn.id, drawn.part FROM written, drawn
        RETURNING id
    ),
    held AS (
        INSERT INTO {reservation}
            (account_id, amount, settled_amount, status, reference, entry_id, description,
             created, expires_at, closed_at)
        SELECT account_id, %(amount)s, NULL, 'held', %(hold_reference)s, id, %(description)s,
               %(now)s, %(until)s, NULL
        FROM written
        ON CONFLICT (account_id, reference) WHERE reference IS NOT NULL DO NOTHING
        RETURNING id
    )
    SELECT (SELECT id FROM acct), (SELECT balance FROM acct), (SELECT id FROM written),
           (SELECT id FROM held), (SELECT count(*) FROM drawn) = (SELECT count(*) FROM taken)
"""
)


def reserve_in_one(
    subscriber_pk: Any,
    amount: int,
    *,
    reference: str | None,
    entry_reference: str | None,
    description: str,
    now: datetime,
    expires_at: datetime,
) -> tuple[int, int, int, int] | None:
    """PostgreSQL: the lock, then debit, draw, allocations, entry and hold in one statement.

    Returns the account's pk, its new balance, the entry's pk and the hold's;
    ``None`` when it wrote nothing or something the caller must roll back.
    """
    params = {
        "amount": amount,
        "now": timestamp(now),
        "until": timestamp(expires_at),
        "subscriber": subscriber_pk,
        "kind": EntryKind.RESERVE.value,
        "reference": entry_reference,
        "hold_reference": reference,
        "description": description,
    }
    with connection.cursor() as cursor:
        execute_locked(cursor, render_named(RESERVE_SQL), params)
        account_pk, balance, entry_pk, hold_pk, all_taken = cursor.fetchone()
    if entry_pk is None or hold_pk is None or not all_taken:
        return None
    return int(account_pk), int(balance), int(entry_pk), int(hold_pk)


# What settling ``actual`` tokens gives back of a hold that is still held, not
# past its expiry and holds at least ``actual``; NULL otherwise. The account
# is locked first; the hold's status read here is the snapshot's, so ``closed``
# checks it again on the latest version and the caller compares the two.
SETTLE_SQL = """
    WITH acct AS (
        UPDATE {account}
        SET balance = balance + COALESCE((
                SELECT amount - %(actual)s FROM {reservation}
                WHERE {reservation}.id = %(reservation)s
                  AND {reservation}.account_id = {account}.id AND status = 'held'
                  AND expires_at > %(now)s AND amount >= %(actual)s
            ), 0),
            updated = %(now)s
        WHERE subscriber_id = %(subscriber)s AND balance >= 0 AND {common_case}
        RETURNING id, balance, (
            SELECT amount - %(actual)s FROM {reservation}
            WHERE {reservation}.id = %(reservation)s
              AND {reservation}.account_id = {account}.id AND status = 'held'
              AND expires_at > %(now)s AND amount >= %(actual)s
        ) AS back
    ),
    closed AS (
        UPDATE {reservation}
        SET status = %(status)s, settled_amount = %(actual)s, closed_at = %(now)s
        WHERE id = %(reservation)s AND account_id = (SELECT id FROM acct)
          AND (SELECT back FROM acct) IS NOT NULL
          AND status = 'held' AND expires_at > %(now)s AND amount >= %(actual)s
        RETURNING amount, entry_id, description, reference
    ),
    {put_back},
    credits AS (
        SELECT id, remaining FROM {entry} WHERE id IN (SELECT id FROM back) FOR UPDATE
    ),
    returned AS (
        -- From the value read FOR UPDATE, and only where the row still holds it
        -- (as a consume's draw does); the caller compares the rows.
        UPDATE {entry} SET remaining = credits.remaining + back.part
        FROM back JOIN credits ON credits.id = back.id
        WHERE {entry}.id = back.id AND {entry}.remaining = credits.remaining
        RETURNING {entry}.expires_at IS NOT NULL AND {entry}.expires_at <= %(now)s AS expired
    ),
    released AS (
        INSERT INTO {entry}
            (account_id, kind, amount, balance_after, reference, grant_id, expires_at,
             remaining, description, created)
        SELECT acct.id, %(release)s, acct.back, acct.balance, %(release_reference)s, NULL,
               NULL, 0,
               CASE WHEN closed.description = '' THEN %(release_description)s
                    ELSE closed.description END,
               %(now)s
        FROM acct, closed WHERE acct.back > 0
        ON CONFLICT (account_id, reference) WHERE reference IS NOT NULL DO NOTHING
        RETURNING id, description
    )
    SELECT (SELECT id FROM acct), (SELECT balance FROM acct), (SELECT back FROM acct),
           (SELECT amount FROM closed), (SELECT entry_id FROM closed),
           (SELECT description FROM closed), (SELECT reference FROM closed),
           (SELECT id FROM released), (SELECT description FROM released),
           EXISTS (SELECT 1 FROM returned WHERE expired),
           (SELECT count(*) FROM back) = (SELECT count(*) FROM returned)
""".replace(
    "{put_back}", put_back_ctes("(SELECT entry_id FROM closed)", "(SELECT back FROM acct)")
)


@dataclass(frozen=True)
class Settled:
    """What ``settle_in_one`` wrote."""

    account_pk: int
    balance: int
    back: int
    amount: int
    entry_pk: int
    description: str
    reference: str | None
    #: The release entry of the part given back, if any was.
    release_pk: int | None
    release_description: str


def settle_in_one(
    subscriber_pk: Any,
    reservation_pk: int,
    actual: int,
    *,
    status: str,
    release_reference: str,
    release_description: str,
    now: datetime,
) -> Settled | None:
    """PostgreSQL: the lock, then close the hold and give the rest back, in one statement.

    ``None`` when it wrote nothing or something the caller must roll back: the
    hold closed or changed meanwhile, a credit given back to that expired
    while held (it needs an expiry entry), the release's reference used, a
    credit not found as it was read.
    """
    params = {
        "actual": actual,
        "reservation": reservation_pk,
        "now": timestamp(now),
        "subscriber": subscriber_pk,
        "status": status,
        "release": EntryKind.RELEASE.value,
        "release_reference": release_reference,
        "release_description": release_description,
    }
    with connection.cursor() as cursor:
        execute_locked(cursor, render_named(SETTLE_SQL), params)
        row = cursor.fetchone()
    account_pk, balance, back, amount, entry_pk, description, reference = row[:7]
    release_pk, written_description, expired, all_returned = row[7:]
    if account_pk is None or back is None or amount is None or expired or not all_returned:
        return None
    if amount - actual != back or (back > 0 and release_pk is None):
        return None
    return Settled(
        int(account_pk),
        int(balance),
        int(back),
        int(amount),
        int(entry_pk),
        description,
        reference,
        None if release_pk is None else int(release_pk),
        written_description or "",
    )
