"""An event row inserted once, in one statement: ``INSERT … ON CONFLICT DO NOTHING RETURNING``.

The ORM has no insert that skips a conflicting row and still says whether it
inserted (``bulk_create(ignore_conflicts=True)`` returns no key), and asking
first (a ``SELECT``, then an ``INSERT`` under a savepoint for the race) costs
three statements where one does. PostgreSQL and SQLite (3.35+) both run this
statement. The values go through each field's own preparation
(``get_db_prep_save``), as the ORM's insert does, so the stored row is what
``Model.save()`` would store.

A concurrent insert of the same Stripe id waits on the unique index until
the first transaction ends (PostgreSQL), or on the write lock (SQLite), then
inserts nothing: only one delivery of an event ever inserts it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field

from fiko_billing.models import WebhookEvent


@cache
def _statement(vendor: str) -> tuple[str, tuple[Field[Any, Any], ...]]:
    meta = WebhookEvent._meta
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    unique = quote(str(WebhookEvent._meta.get_field("stripe_event_id").column))
    key = quote(str(meta.pk.column if meta.pk is not None else "id"))
    # Every name comes from the model's metadata, quoted; every value is a parameter.
    placeholders = ", ".join(["%s"] * len(fields))
    sql = " ".join(
        [
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})",  # noqa: S608
            f"ON CONFLICT ({unique}) DO NOTHING RETURNING {key}",
        ]
    )
    return sql, fields


def insert_once(event: WebhookEvent) -> bool:
    """Insert ``event`` unless an event with its Stripe id is stored; whether it did.

    When it did, ``event.pk`` is set and the row is written-locked by this
    transaction until it ends.
    """
    sql, fields = _statement(connection.vendor)
    values = [field.get_db_prep_save(field.pre_save(event, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk = row[0]
    event._state.adding = False
    return True
