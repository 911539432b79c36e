"""How tokens move under the account lock: expiries, draws from credits, debits, put-backs.

Every function here expects the caller to hold the account's lock (see
``accounts.locked_account``) and to save the account's balance when it says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db.models import F, Min, Q

from fiko_billing.exceptions import InsufficientTokens
from fiko_billing.models import (
    EntryKind,
    ReservationStatus,
    TokenAccount,
    TokenAllocation,
    TokenEntry,
    TokenReservation,
)
from fiko_billing.tokens.accounts import announce, save_account
from fiko_billing.tokens.validation import RELEASE_DESCRIPTION, max_balance

logger = logging.getLogger("fiko_billing.tokens")


def expiry_entry(account: TokenAccount, grant: TokenEntry, *, cause: str = "") -> TokenEntry:
    """The unsaved entry expiring what is left of ``grant``; lowers ``account.balance``."""
    account.balance -= grant.remaining
    return TokenEntry(
        account=account,
        kind=EntryKind.EXPIRY,
        amount=-grant.remaining,
        balance_after=account.balance,
        grant=grant,
        reference=f"expiry:{grant.pk}{cause}",
        description=f"Expiry of {grant.get_kind_display().lower()} #{grant.pk}",
    )


def expire_due_locked(
    account: TokenAccount, now: datetime, *, cause: str = ""
) -> list[TokenEntry]:
    """Expire what is left of every credit past its expiry.

    A credit normally expires once, but tokens of it that were held by a
    reservation expire later, when they are given back; ``cause`` names that
    release so each expiry of one credit has its own reference.
    """
    due = list(
        TokenEntry.objects.filter(account=account, remaining__gt=0, expires_at__lte=now).order_by(
            "expires_at", "pk"
        )
    )
    written = []
    for grant in due:
        written.append(expiry_entry(account, grant, cause=cause))
        grant.remaining = 0
    if due:
        TokenEntry.objects.bulk_update(due, ["remaining"])
        written = TokenEntry.objects.bulk_create(written)
        for entry in written:
            announce(entry, account)
    return written


def draw(account: TokenAccount, amount: int, now: datetime) -> list[tuple[TokenEntry, int]]:
    """Take ``amount`` from live credits, earliest expiry first (never-expiring last)."""
    live = TokenEntry.objects.filter(account=account, remaining__gt=0).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    taken: list[tuple[TokenEntry, int]] = []
    left = amount
    for grant in live.order_by(F("expires_at").asc(nulls_last=True), "pk"):
        part = min(grant.remaining, left)
        grant.remaining -= part
        taken.append((grant, part))
        left -= part
        if left == 0:
            break
    if taken:
        TokenEntry.objects.bulk_update([g for g, _ in taken], ["remaining"])
    return taken


def release_expired_holds_locked(
    account: TokenAccount, now: datetime, *, force: bool = False
) -> list[TokenEntry]:
    """Give back what every reservation past its ``expires_at`` still holds.

    ``holds_expire_at`` is never later than the earliest expiry of a held
    reservation, so while it lies in the future there is nothing to look for
    and no query is made. Returns the expiry entries of credits that had
    expired while their tokens were held.
    """
    if not force and (account.holds_expire_at is None or account.holds_expire_at > now):
        return []
    due = list(
        TokenReservation.objects.filter(
            account=account, status=ReservationStatus.HELD, expires_at__lte=now
        ).order_by("expires_at", "pk")
    )
    expired: list[TokenEntry] = []
    for held in due:
        expired += put_back(account, held, held.amount, now)
        held.settled_amount = 0
        held.status = ReservationStatus.EXPIRED
        held.closed_at = now
        held.save(update_fields=["settled_amount", "status", "closed_at"])
        logger.info(
            "reservation %s of subscriber=%s expired: %d tokens given back",
            held.pk,
            account.subscriber_id,
            held.amount,
        )
    account.holds_expire_at = TokenReservation.objects.filter(
        account=account, status=ReservationStatus.HELD
    ).aggregate(first=Min("expires_at"))["first"]
    save_account(account)
    return expired


def debit_locked(
    account: TokenAccount,
    amount: int,
    *,
    kind: str,
    reference: str | None,
    description: str,
    now: datetime,
    allow_debt: bool,
    from_grant: TokenEntry | None = None,
) -> tuple[TokenEntry, list[tuple[TokenEntry, int]]]:
    release_expired_holds_locked(account, now)
    expire_due_locked(account, now)
    if not allow_debt and account.balance < amount:
        raise InsufficientTokens(amount, account.balance)
    if account.balance - amount < -max_balance():
        raise ValueError(
            f"taking {amount:,} tokens would leave a debt beyond {max_balance():,} "
            "(tokens.MAX_BALANCE)"
        )
    taken: list[tuple[TokenEntry, int]] = []
    left = amount
    if from_grant is not None:
        # Re-read: the expiry just above may have zeroed it.
        from_grant.refresh_from_db(fields=["remaining"])
        part = min(from_grant.remaining, left)
        if part:
            from_grant.remaining -= part
            from_grant.save(update_fields=["remaining"])
            taken.append((from_grant, part))
            left -= part
    # While the balance is not negative, live credits add up to it exactly.
    elsewhere = account.balance - (amount - left)
    if left and elsewhere > 0:
        taken.extend(draw(account, min(left, elsewhere), now))
    account.balance -= amount
    entry = TokenEntry.objects.create(
        account=account,
        kind=kind,
        amount=-amount,
        balance_after=account.balance,
        reference=reference,
        grant=from_grant,
        description=description,
    )
    save_account(account)
    announce(entry, account)
    return entry, taken


def put_back(
    account: TokenAccount, held: TokenReservation, amount: int, now: datetime
) -> list[TokenEntry]:
    """Return ``amount`` of a reservation to the credits it came from, latest expiry first."""
    # Tokens returned while a debt is outstanding pay the debt first.
    to_grants = amount - min(amount, max(0, -account.balance))
    allocations: Sequence[TokenAllocation] = list(
        TokenAllocation.objects.filter(debit_id=held.entry_id)
        .select_related("grant")
        .order_by(F("grant__expires_at").desc(nulls_first=True), "-grant_id")
    )
    grants = []
    for allocation in allocations:
        if to_grants == 0:
            break
        part = min(allocation.amount, to_grants)
        allocation.grant.remaining += part
        grants.append(allocation.grant)
        to_grants -= part
    if grants:
        TokenEntry.objects.bulk_update(grants, ["remaining"])
    account.balance += amount
    entry = TokenEntry.objects.create(
        account=account,
        kind=EntryKind.RELEASE,
        amount=amount,
        balance_after=account.balance,
        reference=f"release:{held.pk}",
        description=held.description or RELEASE_DESCRIPTION,
    )
    announce(entry, account)
    # A credit that expired while its tokens were held expires now.
    expired = expire_due_locked(account, now, cause=f":release:{held.pk}")
    save_account(account)
    return expired
