"""Money going back: ``take_back`` after a refund or dispute, ``reinstate`` after a won one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from fiko_billing.models import CREDIT_KINDS, EntryKind, TokenAccount, TokenAllocation, TokenEntry
from fiko_billing.subscribers import Subscriber, ensure_subscriber
from fiko_billing.tokens import claim_statements, statements
from fiko_billing.tokens.accounts import (
    announce,
    entry_by_reference,
    loaded_account,
    loaded_entry,
    locked_account,
    save_account,
)
from fiko_billing.tokens.movements import debit_locked, expire_due_locked
from fiko_billing.tokens.validation import CLAIM_KINDS, check_amount, check_reference


def _claimed_from(credit: TokenEntry) -> tuple[int, int, int]:
    """Of ``credit``: tokens expired, tokens claims took from it, tokens claims took in all."""
    totals = TokenEntry.objects.filter(grant=credit).aggregate(
        expired=Sum("amount", filter=Q(kind=EntryKind.EXPIRY)),
        net=Sum("amount", filter=Q(kind__in=[*CLAIM_KINDS, EntryKind.REINSTATE])),
    )
    from_credit = (
        TokenAllocation.objects.filter(grant=credit, debit__kind__in=CLAIM_KINDS).aggregate(
            total=Sum("amount")
        )["total"]
        or 0
    )
    return -(totals["expired"] or 0), from_credit, -(totals["net"] or 0)


def _still_due(credit: TokenEntry, claimed: int, forgive_spent: bool) -> int:
    """What claims asking ``claimed`` tokens of ``credit`` back in all still have to take.

    Of the tokens asked back: what is still there first, then the expired
    part (never taken), then the spent part (unless ``forgive_spent``); less
    what earlier claims took.
    """
    credit.refresh_from_db(fields=["remaining"])
    expired, from_credit, taken_before = _claimed_from(credit)
    there = credit.remaining + from_credit
    used = max(0, credit.amount - there - expired)
    take = min(claimed, there)
    if not forgive_spent:
        take += min(used, max(0, claimed - there - expired))
    return take - taken_before


def take_back(
    subscriber: Subscriber,
    tokens: int,
    *,
    credit_reference: str,
    reference: str,
    claimed_before: int = 0,
    kind: str = EntryKind.REFUND,
    forgive_spent: bool = False,
    description: str = "",
) -> TokenEntry | None:
    """Take back ``tokens`` of the credit ``credit_reference`` because its money went back.

    What is still there of that credit is taken from it. Its expired tokens
    are not taken a second time. Tokens of it the subscriber already spent
    are taken anyway, from other credits and then as a debt (a negative
    balance), unless ``forgive_spent``. ``claimed_before`` is what earlier
    claims on the same credit asked for (refunds, disputes): the credit's
    expired part is set against the claims in turn, never twice.

    ``kind`` is ``"refund"`` or ``"dispute"``. Idempotent by ``reference``;
    returns the entry, or ``None`` when there was nothing to take (or no such
    credit).
    """
    ensure_subscriber(subscriber)
    tokens = check_amount(tokens, "tokens")
    if kind not in CLAIM_KINDS:
        raise ValueError(f"kind must be one of {sorted(CLAIM_KINDS)}, not {kind!r}")
    if isinstance(claimed_before, bool) or not isinstance(claimed_before, int):
        raise ValueError(f"claimed_before must be an int, not {claimed_before!r}")
    checked_reference = check_reference(reference)
    done = _take_from_credit(
        subscriber.pk,
        tokens,
        credit_reference=credit_reference,
        reference=checked_reference,
        claimed_before=claimed_before,
        kind=kind,
        forgive_spent=forgive_spent,
        description=description,
    )
    if done is not None:
        return done
    with transaction.atomic():
        account, existing, credit_entry, now = _locked_claim(
            subscriber, checked_reference, credit_reference, CREDIT_KINDS
        )
        if existing is not None:
            return existing
        if credit_entry is None:
            return None
        due = _still_due(credit_entry, max(0, claimed_before) + tokens, forgive_spent)
        if due <= 0:
            return None
        entry, taken = debit_locked(
            account,
            due,
            kind=kind,
            reference=checked_reference,
            description=description,
            now=now,
            allow_debt=True,
            from_grant=credit_entry,
        )
        TokenAllocation.objects.bulk_create(
            TokenAllocation(debit=entry, grant=grant, amount=part) for grant, part in taken
        )
    return entry


def _take_from_credit(
    subscriber_pk: Any,
    tokens: int,
    *,
    credit_reference: str,
    reference: str | None,
    claimed_before: int,
    kind: str,
    forgive_spent: bool,
    description: str,
) -> TokenEntry | None:
    """The common case of ``take_back`` in set-based statements; ``None`` if it wrote nothing.

    Everything is taken from the credit itself (``claim_statements``), or the
    reference was used and its entry is returned, as the general path would.
    The attempt writes nothing unless it does the whole take-back, so it needs
    no savepoint inside a caller's transaction.
    """
    if reference is None or not statements.supported():
        return None
    try:
        source = check_reference(credit_reference)
    except ValueError:
        return None  # the general path decides (a repeat still returns its entry)
    if source is None:
        return None
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        done = claim_statements.take_from_credit(
            subscriber_pk,
            tokens,
            credit_reference=source,
            reference=reference,
            claimed_before=claimed_before,
            kind=kind,
            forgive_spent=forgive_spent,
            description=description,
            now=now,
        )
        if done is None:
            return None
        if isinstance(done, TokenEntry):
            return done  # a repeat
        account_pk, balance, due, credit_pk, entry_pk = done
        return loaded_entry(
            loaded_account(account_pk, subscriber_pk, balance),
            entry_pk,
            kind=kind,
            amount=-due,
            balance_after=balance,
            reference=reference,
            grant_id=credit_pk,
            description=description,
            created=now,
        )


def reinstate(
    subscriber: Subscriber, *, claim_reference: str, reference: str, description: str = ""
) -> TokenEntry | None:
    """Give back what the claim ``claim_reference`` took (a dispute that was won).

    The tokens come back as a new credit that expires when the credit they
    were taken from does (at once if that time has passed). Idempotent by
    ``reference``; ``None`` when the claim took nothing.
    """
    ensure_subscriber(subscriber)
    checked_reference = check_reference(reference)
    with transaction.atomic():
        account, existing, claim, now = _locked_claim(
            subscriber, checked_reference, claim_reference, CLAIM_KINDS
        )
        if existing is not None:
            return existing
        if claim is None:
            return None
        amount = -claim.amount
        debt = max(0, -account.balance)
        account.balance += amount
        source = claim.grant
        expires_at = source.expires_at if source is not None else None
        entry = TokenEntry.objects.create(
            account=account,
            kind=EntryKind.REINSTATE,
            amount=amount,
            balance_after=account.balance,
            reference=checked_reference,
            grant=source,
            expires_at=expires_at,
            remaining=max(0, amount - debt),
            description=description,
        )
        announce(entry, account)
        if expires_at is not None and expires_at <= now:
            expire_due_locked(account, now)
        save_account(account)
    return entry


def _locked_claim(
    subscriber: Subscriber, reference: str | None, source_reference: str, kinds: Iterable[str]
) -> tuple[TokenAccount, TokenEntry | None, TokenEntry | None, datetime]:
    """Lock the account; the entry ``reference`` already made (a repeat), else the
    entry ``source_reference`` names if it is of ``kinds``, expired credits written off."""
    account = locked_account(subscriber.pk)
    now = timezone.now()
    existing = entry_by_reference(account, reference)
    if existing is not None:
        return account, existing, None, now
    source = entry_by_reference(account, check_reference(source_reference))
    if source is None or source.kind not in set(kinds):
        return account, None, None, now
    if expire_due_locked(account, now):
        # Saved now: a claim with nothing left to take writes nothing else.
        save_account(account)
    return account, None, source, now
