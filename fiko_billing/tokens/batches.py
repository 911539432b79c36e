"""Many subscribers at once: ``lock_and_expire`` for batch jobs such as reconciliation."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from fiko_billing.models import TokenAccount, TokenEntry
from fiko_billing.tokens.accounts import announce
from fiko_billing.tokens.movements import expiry_entry, release_expired_holds_locked

logger = logging.getLogger("fiko_billing.tokens")


def lock_and_expire(subscriber_pks: Iterable[Any], *, now: datetime | None = None) -> int:
    """Take the ledger locks of many subscribers and expire what is due for them.

    ``lock_account`` for a batch: the accounts are created where missing and
    locked in primary-key order (so two batch jobs never wait for each other
    in a cycle), and held until the current transaction ends. Credits past
    their expiry are then written off for the whole batch in a few statements,
    exactly as ``expire_due`` writes them off one account at a time; held
    reservations past their expiry are given back account by account. Returns
    the tokens expired. Must run in a transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_and_expire() must run inside transaction.atomic()")
    now = now or timezone.now()
    pks = sorted(set(subscriber_pks))
    if not pks:
        return 0
    TokenAccount.objects.bulk_create(
        [TokenAccount(subscriber_id=pk) for pk in pks], ignore_conflicts=True
    )
    accounts = {
        account.pk: account
        for account in TokenAccount.objects.select_for_update()
        .filter(subscriber_id__in=pks)
        .order_by("pk")
    }
    total = _expire_credits(accounts, now)
    for account in accounts.values():
        if account.holds_expire_at is not None and account.holds_expire_at <= now:
            expired = release_expired_holds_locked(account, now, force=True)
            total += sum(-entry.amount for entry in expired)
    if total:
        logger.info("tokens expired total=%d accounts=%d", total, len(accounts))
    return total


def _expire_credits(accounts: dict[int, TokenAccount], now: datetime) -> int:
    """Write off what is left of every credit of ``accounts`` past its expiry."""
    due = list(
        TokenEntry.objects.filter(account_id__in=accounts, remaining__gt=0, expires_at__lte=now)
        .order_by("account_id", "expires_at", "pk")
        .only("pk", "account_id", "kind", "remaining")
    )
    if not due:
        return 0
    written = []
    for grant in due:
        written.append(expiry_entry(accounts[grant.account_id], grant))
    TokenEntry.objects.filter(pk__in=[grant.pk for grant in due]).update(remaining=0)
    written = TokenEntry.objects.bulk_create(written)
    touched = [accounts[pk] for pk in sorted({grant.account_id for grant in due})]
    for account in touched:
        account.updated = now
    TokenAccount.objects.bulk_update(touched, ["balance", "updated"])
    for entry in written:
        announce(entry, entry.account)
    return sum(-entry.amount for entry in written)
