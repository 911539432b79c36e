"""The account row: reading the balance, locking it, and announcing what changed."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import BigIntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from fiko_billing import signals
from fiko_billing.exceptions import ReferenceConflict
from fiko_billing.models import TokenAccount, TokenEntry
from fiko_billing.subscribers import Subscriber, ensure_subscriber
from fiko_billing.tokens import statements
from fiko_billing.tokens.validation import pk_of

logger = logging.getLogger("fiko_billing.tokens")


def balance(subscriber: Subscriber, *, now: datetime | None = None) -> int:
    """Spendable tokens of ``subscriber`` (negative while a debt is outstanding).

    Credits past their expiry no longer count, even before ``expire_due`` has
    written their expiry entries. One query.
    """
    subscriber_pk = pk_of(subscriber)
    now = now or timezone.now()
    expired = (
        TokenEntry.objects.filter(account=OuterRef("pk"), remaining__gt=0, expires_at__lte=now)
        .values("account")
        .annotate(total=Sum("remaining"))
        .values("total")
    )
    row = (
        TokenAccount.objects.filter(subscriber_id=subscriber_pk)
        .annotate(expired=Coalesce(Subquery(expired, output_field=BigIntegerField()), 0))
        .values_list("balance", "expired")
        .first()
    )
    if row is None:
        return 0
    stored, due = row
    return int(stored) - int(due)


def locked_account_by_pk(account_pk: int) -> TokenAccount:
    """An existing account, locked as ``locked_account`` locks (it may have no subscriber)."""
    TokenAccount.objects.filter(pk=account_pk).update(updated=timezone.now())
    return TokenAccount.objects.get(pk=account_pk)


def locked_account(subscriber_pk: Any) -> TokenAccount:
    """The subscriber's account, created if needed, locked until the transaction ends.

    On SQLite, ``SELECT ... FOR UPDATE`` does not exist and a reading
    transaction that later writes can fail with "database is locked" instead
    of waiting. Writing first takes SQLite's write lock at once (waiting up to
    the connection's timeout), and on other databases it takes the row lock.
    """
    _touch_or_create(subscriber_pk)
    return TokenAccount.objects.get(subscriber_id=subscriber_pk)


def _touch_or_create(subscriber_pk: Any) -> int:
    """Create the account or, when it exists, write to it: either way it is locked; its pk.

    One upsert (``INSERT ... ON CONFLICT (subscriber_id) DO UPDATE``): a
    concurrent creator is waited for, not raced, and the common case (the row
    exists) costs the same single statement as an ``UPDATE``.
    """
    if statements.supported():
        # Every handled webhook event takes this lock: the SQL is written once
        # rather than built by the ORM each time.
        return statements.upsert_account(subscriber_pk, timezone.now())
    TokenAccount.objects.bulk_create(
        [TokenAccount(subscriber_id=subscriber_pk)],
        update_conflicts=True,
        unique_fields=["subscriber"],
        update_fields=["updated"],
    )
    return int(TokenAccount.objects.values_list("pk", flat=True).get(subscriber_id=subscriber_pk))


def entry_by_reference(account: TokenAccount, reference: str | None) -> TokenEntry | None:
    if reference is None:
        return None
    return TokenEntry.objects.filter(account=account, reference=reference).first()


def same_or_conflict(
    entry: TokenEntry, *, kinds: Iterable[str], amount: int, reference: str
) -> TokenEntry:
    if entry.kind not in set(kinds) or entry.amount != amount:
        raise ReferenceConflict(
            f"reference {reference!r} was already used for {entry.kind} {entry.amount:+d}; "
            f"use a new reference for a different operation"
        )
    return entry


def repeated(
    account: TokenAccount, reference: str | None, *, kind: str, amount: int
) -> TokenEntry | None:
    """The entry an earlier call with ``reference`` made, if it was this same operation.

    ``None`` when the reference is new (or absent); ``ReferenceConflict`` when
    it was used for another kind or amount.
    """
    existing = entry_by_reference(account, reference)
    if existing is None or reference is None:
        return None
    return same_or_conflict(existing, kinds=[kind], amount=amount, reference=reference)


def save_account(account: TokenAccount) -> None:
    TokenAccount.objects.filter(pk=account.pk).update(
        balance=account.balance, holds_expire_at=account.holds_expire_at, updated=timezone.now()
    )


def announce(entry: TokenEntry, account: TokenAccount) -> None:
    signal = signals.tokens_credited if entry.amount > 0 else signals.tokens_debited
    subscriber_pk = account.subscriber_id
    logger.info(
        "tokens %s subscriber=%s amount=%d balance=%d kind=%s reference=%s",
        "credited" if entry.amount > 0 else "debited",
        subscriber_pk,
        abs(entry.amount),
        entry.balance_after,
        entry.kind,
        entry.reference or "-",
    )

    def send() -> None:
        # Loading the subscriber costs a query; skip it when nobody listens.
        # An account whose subscriber was erased has nobody to tell.
        if subscriber_pk is None or not signal.has_listeners(TokenEntry):
            return
        signal.send(
            sender=TokenEntry,
            subscriber=account.subscriber,
            entry=entry,
            amount=abs(entry.amount),
            balance=entry.balance_after,
        )

    transaction.on_commit(send)


_ENTRY_FIELDS = [field.attname for field in TokenEntry._meta.concrete_fields]


def loaded_account(pk: int, subscriber_pk: Any, balance: int) -> TokenAccount:
    """The account as a set-based statement left it (its pk, subscriber and balance)."""
    return TokenAccount.from_db(
        connection.alias, ["id", "subscriber_id", "balance"], [pk, subscriber_pk, balance]
    )


def loaded_entry(account: TokenAccount, pk: int, **values: Any) -> TokenEntry:
    """The entry ``pk`` a set-based statement wrote, as the ORM would have loaded it,
    announced after commit."""
    row = {
        "id": pk,
        "account_id": account.pk,
        "grant_id": None,
        "expires_at": None,
        "remaining": 0,
        "reference": None,
        **values,
    }
    entry = TokenEntry.from_db(connection.alias, _ENTRY_FIELDS, [row[f] for f in _ENTRY_FIELDS])
    announce(entry, account)
    return entry


def lock_account(subscriber: Subscriber) -> int:
    """Hold ``subscriber``'s ledger lock until the current transaction ends; the account's pk.

    Billing state of one subscriber (subscriptions, payments, tokens) is
    always changed under this lock, taken first, so two processes working for
    one subscriber queue up instead of deadlocking. Must run in a transaction.
    """
    ensure_subscriber(subscriber)
    return _touch_or_create(subscriber.pk)


def lock_account_of(subscriber_ids: QuerySet[Any]) -> bool:
    """Take the ledger lock of the subscriber that ``subscriber_ids`` names (a one-column query).

    For a caller that knows a row of the subscriber's (a payment) but not the
    subscriber: finding the subscriber and locking its account is one
    ``UPDATE``, still the first lock the transaction takes. ``False`` when the
    query names no subscriber with an account yet: nothing is locked then, and
    the caller reads the subscriber and calls ``lock_account``, which makes it.
    """
    touched = TokenAccount.objects.filter(subscriber_id__in=subscriber_ids).update(
        updated=timezone.now()
    )
    return bool(touched)
