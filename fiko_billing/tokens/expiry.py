"""Expiry sweeps: ``expire_due`` for every account, ``expire_credit`` for one credit."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from fiko_billing.models import CREDIT_KINDS, ReservationStatus, TokenEntry, TokenReservation
from fiko_billing.subscribers import Subscriber, ensure_subscriber
from fiko_billing.tokens.accounts import (
    entry_by_reference,
    locked_account,
    locked_account_by_pk,
    save_account,
)
from fiko_billing.tokens.movements import expire_due_locked, release_expired_holds_locked
from fiko_billing.tokens.validation import check_reference, pk_of

logger = logging.getLogger("fiko_billing.tokens")


def expire_due(*, now: datetime | None = None, subscriber: Subscriber | None = None) -> int:
    """Expire what is due; return the number of credit tokens expired.

    Writes the expiry entries of credits past their ``expires_at`` and gives
    back what reservations past theirs still hold (a worker that reserved and
    died never settles). Accounts whose subscriber was erased are swept too.
    Safe to run at any time and from several processes: each account is
    handled in its own short transaction under its lock.
    """
    subscriber_pk = None if subscriber is None else pk_of(subscriber)
    now = now or timezone.now()
    due = TokenEntry.objects.filter(remaining__gt=0, expires_at__lte=now)
    holds = TokenReservation.objects.filter(status=ReservationStatus.HELD, expires_at__lte=now)
    if subscriber_pk is not None:
        due = due.filter(account__subscriber_id=subscriber_pk)
        holds = holds.filter(account__subscriber_id=subscriber_pk)
    account_pks = sorted(
        {
            *due.values_list("account_id", flat=True).distinct().order_by(),
            *holds.values_list("account_id", flat=True).distinct().order_by(),
        }
    )
    total = 0
    for account_pk in account_pks:
        with transaction.atomic():
            account = locked_account_by_pk(account_pk)
            written = expire_due_locked(account, now)
            if written:
                save_account(account)
            written += release_expired_holds_locked(account, now, force=True)
            total += sum(-entry.amount for entry in written)
    if total or account_pks:
        logger.info("tokens expired total=%d accounts=%d", total, len(account_pks))
    return total


def expire_credit(
    subscriber: Subscriber, credit_reference: str, *, now: datetime | None = None
) -> int:
    """End the credit ``credit_reference`` now: what is left of it expires.

    Used when the period a plan's allowance was granted for is cut short (a
    plan change that starts a new period). Returns the tokens expired.
    """
    ensure_subscriber(subscriber)
    now = now or timezone.now()
    with transaction.atomic():
        account = locked_account(subscriber.pk)
        credit_entry = entry_by_reference(account, check_reference(credit_reference))
        if credit_entry is None or credit_entry.kind not in CREDIT_KINDS:
            return 0
        if credit_entry.expires_at is None or credit_entry.expires_at > now:
            credit_entry.expires_at = now
            credit_entry.save(update_fields=["expires_at"])
        written = expire_due_locked(account, now)
        if written:
            save_account(account)
    return sum(-entry.amount for entry in written if entry.grant_id == credit_entry.pk)
