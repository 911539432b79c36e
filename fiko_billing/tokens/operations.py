"""Credits and debits: ``credit``, ``consume``, ``revoke`` and ``adjust``."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from fiko_billing.models import EntryKind, TokenAccount, TokenEntry
from fiko_billing.subscribers import Subscriber
from fiko_billing.tokens import hot_path
from fiko_billing.tokens.accounts import (
    announce,
    entry_by_reference,
    locked_account,
    repeated,
    save_account,
)
from fiko_billing.tokens.movements import (
    debit_locked,
    expire_due_locked,
    release_expired_holds_locked,
)
from fiko_billing.tokens.validation import (
    CREDITABLE_KINDS,
    REVOCABLE_KINDS,
    check_amount,
    check_expiry,
    check_reference,
    check_text,
    max_balance,
    pk_of,
)


def credit(
    subscriber: Subscriber,
    amount: int,
    *,
    kind: str,
    reference: str | None,
    expires_at: datetime | None = None,
    description: str = "",
) -> TokenEntry:
    """Add ``amount`` tokens. ``kind`` is ``"grant"``, ``"purchase"`` or ``"adjustment"``.

    ``reference`` (an invoice, checkout session or other unique id) makes the
    credit idempotent; pass ``None`` only for credits that may legitimately
    repeat. Tokens first pay off any debt.
    """
    subscriber_pk = pk_of(subscriber)
    amount = check_amount(amount)
    reference = check_reference(reference)
    description = check_text(description, "description")
    if kind not in CREDITABLE_KINDS:
        raise ValueError(f"kind must be one of {sorted(CREDITABLE_KINDS)}, not {kind!r}")
    now = timezone.now()
    expires_at = check_expiry(expires_at, now)
    done = hot_path.credit(
        subscriber_pk,
        amount,
        kind=kind,
        reference=reference,
        expires_at=expires_at,
        description=description,
        now=now,
        ceiling=max_balance(),
    )
    if done is not None:
        return done
    with transaction.atomic():
        account = locked_account(subscriber_pk)
        existing = repeated(account, reference, kind=kind, amount=amount)
        if existing is not None:
            return existing
        return _credit_locked(
            account,
            amount,
            kind,
            reference,
            expires_at=expires_at,
            description=description,
            now=now,
        )


def _credit_locked(
    account: TokenAccount,
    amount: int,
    kind: str,
    reference: str | None,
    *,
    expires_at: datetime | None,
    description: str,
    now: datetime,
) -> TokenEntry:
    release_expired_holds_locked(account, now)
    expire_due_locked(account, now)
    if account.balance + amount > max_balance():
        raise ValueError(
            f"crediting {amount:,} tokens would take the balance beyond {max_balance():,} "
            "(tokens.MAX_BALANCE)"
        )
    debt = max(0, -account.balance)
    account.balance += amount
    entry = TokenEntry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=account.balance,
        reference=reference,
        expires_at=expires_at,
        remaining=max(0, amount - debt),
        description=description,
    )
    save_account(account)
    announce(entry, account)
    return entry


def consume(
    subscriber: Subscriber, amount: int, *, reference: str | None = None, description: str = ""
) -> TokenEntry:
    """Spend ``amount`` tokens or raise ``InsufficientTokens`` without spending any."""
    subscriber_pk = pk_of(subscriber)
    amount = check_amount(amount)
    reference = check_reference(reference)
    description = check_text(description, "description")
    now = timezone.now()
    done = hot_path.consume(
        subscriber_pk, amount, reference=reference, description=description, now=now
    )
    if done is not None:
        return done
    with transaction.atomic():
        account = locked_account(subscriber_pk)
        existing = repeated(account, reference, kind=EntryKind.CONSUME, amount=-amount)
        if existing is not None:
            return existing
        entry, _taken = debit_locked(
            account,
            amount,
            kind=EntryKind.CONSUME,
            reference=reference,
            description=description,
            now=now,
            allow_debt=False,
        )
    return entry


def revoke(
    subscriber: Subscriber,
    amount: int,
    *,
    reference: str | None,
    kind: str = EntryKind.REFUND,
    grant_reference: str | None = None,
    description: str = "",
) -> TokenEntry:
    """Take ``amount`` tokens back even if that leaves a debt (a negative balance).

    Used when money is returned: a refund takes back the refunded share of a
    purchase, first from what is left of that purchase's credit (named by
    ``grant_reference``), then from other credits, and records the rest as debt.
    """
    subscriber_pk = pk_of(subscriber)
    amount = check_amount(amount)
    checked_reference = check_reference(reference)
    checked_grant_reference = check_reference(grant_reference)
    description = check_text(description, "description")
    if kind not in REVOCABLE_KINDS:
        raise ValueError(f"kind must be one of {sorted(REVOCABLE_KINDS)}, not {kind!r}")
    with transaction.atomic():
        account = locked_account(subscriber_pk)
        existing = repeated(account, checked_reference, kind=kind, amount=-amount)
        if existing is not None:
            return existing
        grant = entry_by_reference(account, checked_grant_reference)
        if grant is not None and (grant.kind not in CREDITABLE_KINDS or grant.amount <= 0):
            grant = None  # only a credit can be the source tokens are taken back from
        entry, _taken = debit_locked(
            account,
            amount,
            kind=kind,
            reference=checked_reference,
            description=description,
            now=timezone.now(),
            allow_debt=True,
            from_grant=grant,
        )
    return entry


def adjust(
    subscriber: Subscriber, delta: int, *, reason: str, reference: str | None = None
) -> TokenEntry:
    """A manual correction: ``delta`` > 0 credits, < 0 takes back (a debt is allowed)."""
    pk_of(subscriber)
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise ValueError(f"delta must be a non-zero int, not {delta!r}")
    check_amount(abs(delta), "delta")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("an adjustment needs a reason")
    check_text(reason, "reason")
    if delta > 0:
        return credit(
            subscriber, delta, kind=EntryKind.ADJUSTMENT, reference=reference, description=reason
        )
    return revoke(
        subscriber,
        -delta,
        kind=EntryKind.ADJUSTMENT,
        reference=reference,
        description=reason,
    )
