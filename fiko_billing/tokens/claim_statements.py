"""The SQL of a take-back's common case: the claim's tokens all come out of its own credit.

``take_back`` (a refund or a dispute) works out what is still due from the
credit it names (``claims._still_due``), then takes it from that credit first,
from other credits next, and leaves a debt for the rest. In the common case
(the account in the ledger's common case, the reference not used, and what is
due no more than what is left of the credit itself) that is: the credit's
``remaining`` goes down by what is due, so does the balance, and one entry and
one allocation are written. These statements do exactly that, and nothing at
all otherwise, so the caller needs no savepoint to undo an attempt: it runs
the general path instead.

What is due is computed in SQL with the same arithmetic as ``_still_due``:
of the tokens claimed in all, what is still there first (left in the credit,
or taken from it by earlier claims), never the expired part, then the spent
part unless it is forgiven; less what earlier claims and reinstatements took.

On PostgreSQL the whole take-back is one statement. Its snapshot is taken
before it waits for the account's lock, so the account's ``UPDATE`` also
requires the row version it locked to be the one the snapshot saw
(``xmin``): every ledger write updates the account row, so a write that
committed meanwhile makes the statement match nothing (and write nothing),
and the general path runs under the lock. SQLite cannot write inside
``WITH``: there the account's guarded ``UPDATE`` (which takes the write lock
first and checks everything) is followed by three plain writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection

from fiko_billing.models import CREDIT_KINDS, EntryKind, TokenEntry
from fiko_billing.tokens.statements import render, timestamp
from fiko_billing.tokens.validation import CLAIM_KINDS


def _listed(kinds: Iterable[str]) -> str:
    # Fixed kinds of the ledger's own, never input: safe to write into the SQL.
    return ", ".join(f"'{kind}'" for kind in sorted(kinds))


_KINDS = {
    "credit_kinds": _listed(CREDIT_KINDS),
    "claim_kinds": _listed(CLAIM_KINDS),
    "taken_kinds": _listed({*CLAIM_KINDS, EntryKind.REINSTATE}),
    "expiry": _listed([EntryKind.EXPIRY]),
}


# What is due from the credit named ``%(credit_reference)s`` of the subscriber's
# account: its row, and the arithmetic of ``claims._still_due``.
_DUE = """
    credit AS (
        SELECT {entry}.id, {entry}.account_id, {entry}.amount, {entry}.remaining
        FROM {entry} JOIN {account} ON {account}.id = {entry}.account_id
        WHERE {account}.subscriber_id = %(subscriber)s
          AND {entry}.reference = %(credit_reference)s
          AND {entry}.kind IN ({credit_kinds})
    ),
    totals AS MATERIALIZED (
        -- Computed once: inlined, each of its subqueries would be planned again
        -- wherever ``due`` is used (PostgreSQL took milliseconds to plan that).
        SELECT id, account_id, amount, remaining,
            -CAST(COALESCE((
                SELECT SUM(amount) FROM {entry} AS expiry
                WHERE expiry.grant_id = credit.id AND expiry.kind = {expiry}
            ), 0) AS BIGINT) AS expired,
            CAST(COALESCE((
                SELECT SUM(part.amount) FROM {allocation} AS part
                JOIN {entry} AS claim ON claim.id = part.debit_id
                WHERE part.grant_id = credit.id AND claim.kind IN ({claim_kinds})
            ), 0) AS BIGINT) AS from_credit,
            -CAST(COALESCE((
                SELECT SUM(amount) FROM {entry} AS claim
                WHERE claim.grant_id = credit.id
                  AND claim.kind IN ({taken_kinds})
            ), 0) AS BIGINT) AS taken_before
        FROM credit
    ),
    there AS (
        SELECT totals.*, remaining + from_credit AS there,
               CASE WHEN amount < %(claimed)s THEN amount ELSE %(claimed)s END AS asked
        FROM totals
    ),
    due AS MATERIALIZED (
        SELECT id, account_id, remaining,
            CASE WHEN %(claimed)s < there THEN %(claimed)s ELSE there END
            + CASE WHEN %(forgive)s = 1 OR asked - there - expired <= 0 THEN 0
                   ELSE asked - there - expired END
            - taken_before AS due
        FROM there
    )
"""

# The account's side, and its guards: the common case, what is due covered by
# the credit alone and by the balance (so no debt), the reference not used.
_GUARDS = """
    {account}.subscriber_id = %(subscriber)s
    AND due.due > 0 AND due.due <= due.remaining AND {account}.balance >= due.due
    AND NOT EXISTS (
        SELECT 1 FROM {entry} AS used
        WHERE used.account_id = {account}.id AND used.reference = %(reference)s
    )
    AND {common_case}
"""

TAKE_BACK_SQL = """
    WITH {due},
    acct AS (
        UPDATE {account} SET balance = balance - due.due, updated = %(now)s
        FROM due
        WHERE {account}.id = due.account_id AND {guards}
          AND {account}.xmin = (
              SELECT seen.xmin FROM {account} AS seen WHERE seen.id = due.account_id
          )
        RETURNING {account}.id, {account}.balance, due.due, due.id AS credit_id
    ),
    taken AS (
        UPDATE {entry} SET remaining = {entry}.remaining - acct.due
        FROM acct
        WHERE {entry}.id = acct.credit_id AND {entry}.remaining >= acct.due
        RETURNING {entry}.id
    ),
    written AS (
        INSERT INTO {entry}
            (account_id, kind, amount, balance_after, reference, grant_id, expires_at,
             remaining, description, created)
        SELECT acct.id, %(kind)s, -acct.due, acct.balance, %(reference)s, acct.credit_id,
               NULL, 0, %(description)s, %(now)s
        FROM acct JOIN taken ON taken.id = acct.credit_id
        RETURNING id, grant_id, -amount AS part
    ),
    allocated AS (
        INSERT INTO {allocation} (debit_id, grant_id, amount)
        SELECT id, grant_id, part FROM written
        RETURNING id
    )
    SELECT (SELECT id FROM acct), (SELECT balance FROM acct), (SELECT due FROM acct),
           (SELECT credit_id FROM acct), (SELECT id FROM written),
           (SELECT COUNT(*) FROM allocated), ({used})
"""

# SQLite: the first statement locks, checks and debits the account; RETURNING
# cannot name the FROM table there, so what is due is read back by subqueries.
LOCK_AND_TAKE_SQL = """
    WITH {due}
    UPDATE {account} SET balance = balance - (SELECT due FROM due), updated = %(now)s
    WHERE {account}.id = (SELECT account_id FROM due) AND EXISTS (
        SELECT 1 FROM due WHERE {guards}
    )
    RETURNING id, balance, (SELECT due FROM due), (SELECT id FROM due)
"""
# PostgreSQL: the entry a take-back with this reference already wrote (a repeat).
_USED = """
    SELECT used.id FROM {entry} AS used JOIN {account} ON {account}.id = used.account_id
    WHERE {account}.subscriber_id = %(subscriber)s AND used.reference = %(reference)s
"""
_TAKE_FROM_CREDIT = """
    UPDATE {entry} SET remaining = remaining - %(due)s
    WHERE id = %(credit)s AND remaining >= %(due)s
    RETURNING id
"""
_INSERT_CLAIM = """
    INSERT INTO {entry}
        (account_id, kind, amount, balance_after, reference, grant_id, expires_at,
         remaining, description, created)
    VALUES (%(account)s, %(kind)s, -%(due)s, %(balance)s, %(reference)s, %(credit)s,
            NULL, 0, %(description)s, %(now)s)
    RETURNING id
"""
_INSERT_ALLOCATION = """
    INSERT INTO {allocation} (debit_id, grant_id, amount) VALUES (%(entry)s, %(credit)s, %(due)s)
    RETURNING id
"""


class Taken(NamedTuple):
    """What a take-back in the common case wrote."""

    account_pk: int
    balance: int
    tokens: int
    credit_pk: int
    entry_pk: int


class Inconsistent(RuntimeError):
    """A write after the guarded one did not match: the transaction must not commit."""


def _named(template: str) -> str:
    """``template`` rendered, the common case's two timestamps named ``now``."""
    whole = template.replace("{due}", _DUE).replace("{guards}", _GUARDS).replace("{used}", _USED)
    return render(whole, **_KINDS).replace("%s", "%(now)s")


def _one(sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # Fetch every row: SQLite finishes a RETURNING statement only then.
        found = list(cursor.fetchall())
    return tuple(found[0]) if found else None


def take_from_credit(
    subscriber_pk: Any,
    tokens: int,
    *,
    credit_reference: str,
    reference: str,
    claimed_before: int,
    kind: str,
    forgive_spent: bool,
    description: str,
    now: datetime,
) -> Taken | TokenEntry | None:
    """Lock the account and take what is due out of the credit, in the common case only.

    Returns what was taken; the entry an earlier take-back with ``reference``
    wrote (nothing is written then: entries never change, so it is returned
    as it is, as the general path would); or ``None`` when nothing
    was written for another reason (not the common case, or nothing due: the
    general path says what to do). Raises ``Inconsistent`` if a write after
    the guarded one found the rows other than the guard did; the caller's
    transaction must then roll back.
    """
    params: dict[str, Any] = {
        "subscriber": subscriber_pk,
        "credit_reference": credit_reference,
        "reference": reference,
        "claimed": max(0, claimed_before) + tokens,
        "forgive": 1 if forgive_spent else 0,
        "kind": kind,
        "description": description,
        "now": timestamp(now),
    }
    if connection.vendor == "postgresql":
        row = _one(_named(TAKE_BACK_SQL), params)
        assert row is not None  # noqa: S101 - a SELECT of scalars returns its one row
        account_pk, balance, due, credit_pk, entry_pk, allocations, used = row
        if account_pk is None:
            return None if used is None else TokenEntry.objects.get(pk=used)
        if entry_pk is None or allocations != 1:
            raise Inconsistent(f"take-back {reference!r}: the credit changed under the lock")
        return Taken(int(account_pk), int(balance), int(due), int(credit_pk), int(entry_pk))
    row = _one(_named(LOCK_AND_TAKE_SQL), params)
    if row is None:
        return TokenEntry.objects.filter(
            account__subscriber_id=subscriber_pk, reference=reference
        ).first()
    account_pk, balance, due, credit_pk = (int(value) for value in row)
    params.update(account=account_pk, balance=balance, due=due, credit=credit_pk)
    if _one(render(_TAKE_FROM_CREDIT), params) is None:
        raise Inconsistent(f"take-back {reference!r}: the credit changed under the lock")
    written = _one(render(_INSERT_CLAIM), params)
    if written is None:  # pragma: no cover - an INSERT without a condition returns its row
        raise Inconsistent(f"take-back {reference!r}: no entry written")
    params["entry"] = int(written[0])
    _one(render(_INSERT_ALLOCATION), params)
    return Taken(account_pk, balance, due, credit_pk, params["entry"])
