"""The SQL of a hold's common case: allocations, the hold, giving back on settle.

Written once for PostgreSQL and SQLite, like ``statements``, whose helpers and
guards it uses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

from fiko_billing.tokens.statements import put_back_ctes, render, rows, timestamp

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
            render(_ALLOCATE),
            [account_pk, timestamp(now), amount, amount, amount, amount, entry_pk],
        )
    rows(_DRAW_ALLOCATED, [entry_pk, entry_pk])


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
    found = rows(
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
    return int(found[0][0]) if found else None


# What a settle of ``actual`` tokens gives back of a hold that is still held,
# not past its expiry and holds at least ``actual``; NULL otherwise.
_GIVEN_BACK = """
    (SELECT amount - %s FROM {reservation}
     WHERE {reservation}.id = %s AND {reservation}.account_id = {account}.id
       AND status = 'held' AND expires_at > %s AND amount >= %s)
"""

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
    found = rows(
        _LOCK_AND_GIVE_BACK,
        [*back, stamp, subscriber_pk, stamp, stamp, *back],
        given_back=_GIVEN_BACK,
    )
    if not found or found[0][2] is None:
        return None
    return int(found[0][0]), int(found[0][1]), int(found[0][2])


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
    found = rows(_CLOSE, [status, actual, stamp, reservation_pk, account_pk, stamp, actual])
    if not found:
        return None
    amount, entry_pk, description, reference = found[0]
    return int(amount), int(entry_pk), description, reference


# The credits a hold drew from get back what it did not use; a credit past its
# expiry among them makes the caller take the ORM path (an expiry entry is due).
_PUT_BACK = (
    "WITH "  # noqa: S608 - constant SQL, bound values
    + put_back_ctes("%s", "%s")
    + """
    UPDATE {entry}
    SET remaining = remaining + (SELECT part FROM back WHERE back.id = {entry}.id)
    WHERE id IN (SELECT id FROM back)
    RETURNING expires_at IS NOT NULL AND expires_at <= %s
"""
)


def put_back(entry_pk: int, amount: int, now: datetime) -> bool:
    """Return ``amount`` to the credits the hold ``entry_pk`` drew from, latest expiry first.

    False when one of them has expired meanwhile: that needs an expiry entry,
    which the ORM path writes, so the caller rolls back and takes it.
    """
    found = rows(_PUT_BACK, [entry_pk, amount, amount, amount, timestamp(now)])
    return not any(expired for (expired,) in found)
