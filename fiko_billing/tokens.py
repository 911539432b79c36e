"""The token ledger: the public API through which tokens are credited and spent.

Rules this module keeps, on PostgreSQL and SQLite alike:

* the subscriber is a saved instance of the subscriber model (anything else,
  such as ``request.user`` when an organisation pays, raises ``TypeError``);
* amounts are positive ``int`` of at most ``MAX_AMOUNT`` (0, negatives, floats
  and bools raise ``ValueError``), and a balance stays within ``MAX_BALANCE``
  either way; texts are checked before the database sees them;
* an operation repeated with the same ``reference`` returns the first result and
  changes nothing (a different operation under a used reference raises
  ``ReferenceConflict``);
* debits draw from the credits that expire first;
* the stored balance always equals the sum of the entries;
* ``consume`` and ``reserve`` never take the balance below zero; only
  ``revoke`` (a refund taking tokens back) may leave a debt, which blocks
  spending until new credits cover it;
* a reservation holds its tokens until it is settled, released or expires
  (``RESERVATION_TIMEOUT``, or ``expires_in``); every write to the account and
  ``expire_due`` give expired holds back;
* every write for one subscriber runs in one transaction holding that
  subscriber's account row, so parallel requests never spend the same tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, F, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from fiko_billing import signals
from fiko_billing.conf import MAX_RESERVATION_TIMEOUT, billing_settings
from fiko_billing.exceptions import (
    InsufficientTokens,
    ReferenceConflict,
    ReservationClosed,
    ReservationExpired,
    ReservationNotFound,
)
from fiko_billing.models import (
    CREDIT_KINDS,
    EntryKind,
    ReservationStatus,
    TokenAccount,
    TokenAllocation,
    TokenEntry,
    TokenReservation,
)
from fiko_billing.subscribers import ensure_subscriber

__all__ = [
    "MAX_AMOUNT",
    "MAX_BALANCE",
    "InsufficientTokens",
    "Reservation",
    "adjust",
    "balance",
    "consume",
    "credit",
    "expire_credit",
    "expire_due",
    "get_reservation",
    "lock_account",
    "reinstate",
    "release",
    "reserve",
    "revoke",
    "settle",
    "take_back",
]

logger = logging.getLogger("fiko_billing.tokens")

CREDITABLE_KINDS = frozenset({EntryKind.GRANT, EntryKind.PURCHASE, EntryKind.ADJUSTMENT})
REVOCABLE_KINDS = frozenset({EntryKind.REFUND, EntryKind.ADJUSTMENT})
#: Debits that take back tokens because the money that bought them went back.
CLAIM_KINDS = frozenset({EntryKind.REFUND, EntryKind.DISPUTE})
RESERVE_PREFIX = "reserve:"

#: The most tokens one operation may move. Far beyond any real purchase, it
#: keeps every sum of amounts far below the 64-bit limit of the columns.
MAX_AMOUNT = 10**12
#: The most a balance may hold, and the most it may owe: a credit that would
#: take it above, or a revocation that would take it below ``-MAX_BALANCE``,
#: raises ``ValueError`` and changes nothing.
MAX_BALANCE = 10**15
#: The longest ``description``, ``reason`` and ``reference`` (the columns' size).
MAX_TEXT_LENGTH = 255


def _check_amount(amount: object, name: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"{name} must be a positive int, not {amount!r}")
    if amount <= 0:
        raise ValueError(f"{name} must be a positive int, not {amount}")
    if amount > MAX_AMOUNT:
        raise ValueError(f"{name} must be at most {MAX_AMOUNT:,} (tokens.MAX_AMOUNT)")
    return amount


def _check_text(value: object, name: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """``value`` if it is text a database column of ``max_length`` accepts as it is."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, not {type(value).__name__}")
    if len(value) > max_length:
        raise ValueError(f"{name} must be at most {max_length} characters, not {len(value)}")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL (\\x00)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} must be valid Unicode text (it holds a lone surrogate)") from exc
    return value


def _check_expiry(expires_at: object, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if not isinstance(expires_at, datetime):
        raise ValueError(f"expires_at must be a datetime, not {type(expires_at).__name__}")
    if timezone.is_naive(expires_at):
        raise ValueError("expires_at must be timezone-aware")
    if expires_at <= now:
        raise ValueError("expires_at is in the past")
    return expires_at


#: Prefixes of the references the ledger writes itself; callers cannot use them.
INTERNAL_PREFIXES = ("reserve:", "release:", "expiry:", "reservation:")


def _check_reference(reference: object, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    if reference is None:
        return None
    if not isinstance(reference, str) or not reference or len(reference) > max_length:
        raise ValueError(f"reference must be a non-empty str of at most {max_length} characters")
    _check_text(reference, "reference", max_length)
    if reference.startswith(INTERNAL_PREFIXES):
        raise ValueError(
            f"references starting with {', '.join(INTERNAL_PREFIXES)} are the ledger's own"
        )
    return reference


def _pk(subscriber: Any) -> Any:
    """The primary key of ``subscriber``, once it is known to be one (``TypeError`` if not)."""
    return ensure_subscriber(subscriber).pk


# --------------------------------------------------------------------------- reading


def balance(subscriber: Any, *, now: datetime | None = None) -> int:
    """Spendable tokens of ``subscriber`` (negative while a debt is outstanding).

    Credits past their expiry no longer count, even before ``expire_due`` has
    written their expiry entries. One query.
    """
    subscriber_pk = _pk(subscriber)
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


# --------------------------------------------------------------------------- locking


def _locked_account_by_pk(account_pk: int) -> TokenAccount:
    """An existing account, locked as ``_locked_account`` locks (it may have no subscriber)."""
    TokenAccount.objects.filter(pk=account_pk).update(updated=timezone.now())
    return TokenAccount.objects.get(pk=account_pk)


def _locked_account(subscriber_pk: Any) -> TokenAccount:
    """The subscriber's account, created if needed, locked until the transaction ends.

    On SQLite, ``SELECT ... FOR UPDATE`` does not exist and a reading
    transaction that later writes can fail with "database is locked" instead
    of waiting. Writing first takes SQLite's write lock at once (waiting up to
    the connection's timeout), and on other databases it takes the row lock.
    """
    for _attempt in range(2):
        touched = TokenAccount.objects.filter(subscriber_id=subscriber_pk).update(
            updated=timezone.now()
        )
        if touched:
            return TokenAccount.objects.get(subscriber_id=subscriber_pk)
        try:
            with transaction.atomic():
                return TokenAccount.objects.create(subscriber_id=subscriber_pk)
        except IntegrityError:
            # Another transaction created it first; the loop now locks that row.
            continue
    raise RuntimeError("could not create or lock the token account")  # pragma: no cover


def _existing(account: TokenAccount, reference: str | None) -> TokenEntry | None:
    if reference is None:
        return None
    return TokenEntry.objects.filter(account=account, reference=reference).first()


def _same_or_conflict(
    entry: TokenEntry, *, kinds: Iterable[str], amount: int, reference: str
) -> TokenEntry:
    if entry.kind not in set(kinds) or entry.amount != amount:
        raise ReferenceConflict(
            f"reference {reference!r} was already used for {entry.kind} {entry.amount:+d}; "
            f"use a new reference for a different operation"
        )
    return entry


# --------------------------------------------------------------------------- internals


def _expire_due_locked(
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
        account.balance -= grant.remaining
        written.append(
            TokenEntry(
                account=account,
                kind=EntryKind.EXPIRY,
                amount=-grant.remaining,
                balance_after=account.balance,
                grant=grant,
                reference=f"expiry:{grant.pk}{cause}",
                description=f"Expiry of {grant.get_kind_display().lower()} #{grant.pk}",
            )
        )
        grant.remaining = 0
    if due:
        TokenEntry.objects.bulk_update(due, ["remaining"])
        written = TokenEntry.objects.bulk_create(written)
        for entry in written:
            _announce(entry, account)
    return written


def _draw(account: TokenAccount, amount: int, now: datetime) -> list[tuple[TokenEntry, int]]:
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


def _save_account(account: TokenAccount) -> None:
    TokenAccount.objects.filter(pk=account.pk).update(
        balance=account.balance, holds_expire_at=account.holds_expire_at, updated=timezone.now()
    )


def _release_expired_holds_locked(
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
        expired += _put_back(account, held, held.amount, now)
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
    _save_account(account)
    return expired


def _announce(entry: TokenEntry, account: TokenAccount) -> None:
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


def _debit_locked(
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
    _release_expired_holds_locked(account, now)
    _expire_due_locked(account, now)
    if not allow_debt and account.balance < amount:
        raise InsufficientTokens(amount, account.balance)
    if account.balance - amount < -MAX_BALANCE:
        raise ValueError(
            f"taking {amount:,} tokens would leave a debt beyond {MAX_BALANCE:,} "
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
        taken.extend(_draw(account, min(left, elsewhere), now))
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
    _save_account(account)
    _announce(entry, account)
    return entry, taken


# --------------------------------------------------------------------------- writing


def credit(
    subscriber: Any,
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
    subscriber_pk = _pk(subscriber)
    amount = _check_amount(amount)
    reference = _check_reference(reference)
    description = _check_text(description, "description")
    if kind not in CREDITABLE_KINDS:
        raise ValueError(f"kind must be one of {sorted(CREDITABLE_KINDS)}, not {kind!r}")
    now = timezone.now()
    expires_at = _check_expiry(expires_at, now)
    with transaction.atomic():
        account = _locked_account(subscriber_pk)
        existing = _existing(account, reference)
        if existing is not None:
            assert reference is not None  # noqa: S101
            return _same_or_conflict(existing, kinds=[kind], amount=amount, reference=reference)
        _release_expired_holds_locked(account, now)
        _expire_due_locked(account, now)
        if account.balance + amount > MAX_BALANCE:
            raise ValueError(
                f"crediting {amount:,} tokens would take the balance beyond {MAX_BALANCE:,} "
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
        _save_account(account)
        _announce(entry, account)
    return entry


def consume(
    subscriber: Any, amount: int, *, reference: str | None = None, description: str = ""
) -> TokenEntry:
    """Spend ``amount`` tokens or raise ``InsufficientTokens`` without spending any."""
    subscriber_pk = _pk(subscriber)
    amount = _check_amount(amount)
    reference = _check_reference(reference)
    description = _check_text(description, "description")
    with transaction.atomic():
        account = _locked_account(subscriber_pk)
        existing = _existing(account, reference)
        if existing is not None:
            assert reference is not None  # noqa: S101
            return _same_or_conflict(
                existing, kinds=[EntryKind.CONSUME], amount=-amount, reference=reference
            )
        entry, _taken = _debit_locked(
            account,
            amount,
            kind=EntryKind.CONSUME,
            reference=reference,
            description=description,
            now=timezone.now(),
            allow_debt=False,
        )
    return entry


def revoke(
    subscriber: Any,
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
    subscriber_pk = _pk(subscriber)
    amount = _check_amount(amount)
    checked_reference = _check_reference(reference)
    checked_grant_reference = _check_reference(grant_reference)
    description = _check_text(description, "description")
    if kind not in REVOCABLE_KINDS:
        raise ValueError(f"kind must be one of {sorted(REVOCABLE_KINDS)}, not {kind!r}")
    with transaction.atomic():
        account = _locked_account(subscriber_pk)
        existing = _existing(account, checked_reference)
        if existing is not None:
            assert checked_reference is not None  # noqa: S101
            return _same_or_conflict(
                existing, kinds=[kind], amount=-amount, reference=checked_reference
            )
        grant = _existing(account, checked_grant_reference)
        if grant is not None and (grant.kind not in CREDITABLE_KINDS or grant.amount <= 0):
            grant = None  # only a credit can be the source tokens are taken back from
        entry, _taken = _debit_locked(
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
    subscriber: Any, delta: int, *, reason: str, reference: str | None = None
) -> TokenEntry:
    """A manual correction: ``delta`` > 0 credits, < 0 takes back (a debt is allowed)."""
    _pk(subscriber)
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise ValueError(f"delta must be a non-zero int, not {delta!r}")
    _check_amount(abs(delta), "delta")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("an adjustment needs a reason")
    _check_text(reason, "reason")
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


# --------------------------------------------------------------------------- reservations


@dataclass(frozen=True)
class Reservation:
    """Tokens held by ``reserve``; call ``settle(actual)`` or ``release()`` exactly once.

    Another process can get the same object back with ``get_reservation``.
    ``reused`` is true when ``reserve`` found the hold an earlier call with the
    same reference made (open or already closed) and returned it.
    """

    pk: int
    subscriber: Any
    amount: int
    reference: str | None
    #: When the hold ends by itself if it is neither settled nor released.
    expires_at: datetime | None = None
    reused: bool = field(default=False, compare=False)

    def settle(self, actual: int) -> TokenReservation:
        return settle(self, actual)

    def release(self) -> TokenReservation:
        return release(self)


def _hold_expiry(expires_in: object, now: datetime) -> datetime:
    if expires_in is None:
        return now + timedelta(seconds=billing_settings.RESERVATION_TIMEOUT)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | timedelta):
        raise ValueError(f"expires_in must be a timedelta or seconds, not {expires_in!r}")
    seconds = expires_in if isinstance(expires_in, int) else expires_in.total_seconds()
    if not 0 < seconds <= MAX_RESERVATION_TIMEOUT:
        raise ValueError(
            f"expires_in must be more than 0 and at most {MAX_RESERVATION_TIMEOUT} seconds"
        )
    return now + timedelta(seconds=seconds)


def _reservation(row: TokenReservation, subscriber: Any, *, reused: bool = False) -> Reservation:
    return Reservation(
        row.pk, subscriber, row.amount, row.reference, row.expires_at, reused=reused
    )


def reserve(
    subscriber: Any,
    amount: int,
    *,
    reference: str | None = None,
    description: str = "",
    expires_in: timedelta | int | None = None,
) -> Reservation:
    """Hold ``amount`` tokens (they leave the spendable balance) until settled or released.

    The hold ends by itself after ``expires_in`` (a ``timedelta`` or seconds;
    default ``FIKO_BILLING['RESERVATION_TIMEOUT']``), so a worker that dies
    before settling does not keep the tokens. ``reference`` may be at most 247
    characters: the hold's ledger entry stores it behind a prefix.
    """
    subscriber_pk = _pk(subscriber)
    amount = _check_amount(amount)
    reference = _check_reference(reference, max_length=MAX_TEXT_LENGTH - len(RESERVE_PREFIX))
    description = _check_text(description, "description")
    now = timezone.now()
    expires_at = _hold_expiry(expires_in, now)
    with transaction.atomic():
        account = _locked_account(subscriber_pk)
        if reference is not None:
            held = TokenReservation.objects.filter(account=account, reference=reference).first()
            if held is not None:
                if held.amount != amount:
                    raise ReferenceConflict(
                        f"reference {reference!r} already reserved {held.amount} tokens"
                    )
                return _reservation(held, subscriber, reused=True)
        _release_expired_holds_locked(account, now)
        # Saved with the debit below; the earliest expiry is all the sweep needs.
        account.holds_expire_at = min(filter(None, (account.holds_expire_at, expires_at)))
        entry, taken = _debit_locked(
            account,
            amount,
            kind=EntryKind.RESERVE,
            reference=None if reference is None else f"{RESERVE_PREFIX}{reference}",
            description=description,
            now=now,
            allow_debt=False,
        )
        TokenAllocation.objects.bulk_create(
            TokenAllocation(debit=entry, grant=grant, amount=part) for grant, part in taken
        )
        held = TokenReservation.objects.create(
            account=account,
            amount=amount,
            reference=reference,
            entry=entry,
            description=description,
            expires_at=expires_at,
        )
    return _reservation(held, subscriber)


def get_reservation(subscriber: Any, reference: str) -> Reservation:
    """The reservation ``subscriber`` made under ``reference``, to settle or release it.

    For a hold made by another process (a web request reserves, a worker
    settles). Raises ``ReservationNotFound`` when the subscriber has none with
    that reference; a reservation already closed is returned as well (closing
    it again the same way is harmless, differently raises ``ReservationClosed``).
    """
    subscriber_pk = _pk(subscriber)
    checked = _check_reference(reference, max_length=MAX_TEXT_LENGTH - len(RESERVE_PREFIX))
    if checked is None:
        raise ValueError("reference must be a non-empty str")
    row = TokenReservation.objects.filter(
        account__subscriber_id=subscriber_pk, reference=checked
    ).first()
    if row is None:
        raise ReservationNotFound(f"this subscriber has no reservation {checked!r}")
    return _reservation(row, subscriber)


def _close(reservation: Reservation, actual: int) -> TokenReservation:
    if not isinstance(reservation, Reservation):
        raise TypeError(f"expected a tokens.Reservation, got {type(reservation).__name__}")
    subscriber_pk = _pk(reservation.subscriber)
    with transaction.atomic():
        account = _locked_account(subscriber_pk)
        held = TokenReservation.objects.filter(pk=reservation.pk, account=account).first()
        if held is None:
            raise ReservationNotFound(
                f"reservation {reservation.pk} does not belong to this subscriber"
            )
        now = timezone.now()
        # Holding the lock, give back every expired hold (this one among them,
        # or others when this one was closed before): it is a ledger write.
        force = held.status == ReservationStatus.HELD and (
            held.expires_at is not None and held.expires_at <= now
        )
        _release_expired_holds_locked(account, now, force=force)
        if force:
            held.refresh_from_db()
        if held.status == ReservationStatus.HELD:
            return _settle_held(account, held, actual, now)
        if held.settled_amount == actual:
            return held  # the same settle/release, repeated (or a release after expiry)
    # Outside the transaction, so a hold found expired just now stays given back.
    if held.status == ReservationStatus.EXPIRED:
        raise ReservationExpired(
            f"reservation {held.pk} expired at {held.expires_at:%Y-%m-%d %H:%M:%S %Z}; "
            "its tokens were given back"
        )
    raise ReservationClosed(f"reservation {held.pk} is already {held.status}")


def _settle_held(
    account: TokenAccount, held: TokenReservation, actual: int, now: datetime
) -> TokenReservation:
    extra = actual - held.amount
    if extra > 0:
        _debit_locked(
            account,
            extra,
            kind=EntryKind.CONSUME,
            reference=f"reservation:{held.pk}:overage",
            description=held.description or "Reservation overage",
            now=now,
            allow_debt=False,
        )
    elif extra < 0:
        _put_back(account, held, -extra, now)
    held.settled_amount = actual
    held.status = ReservationStatus.RELEASED if actual == 0 else ReservationStatus.SETTLED
    held.closed_at = now
    held.save(update_fields=["settled_amount", "status", "closed_at"])
    return held


def _put_back(
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
        description=held.description or "Unused part of a reservation",
    )
    _announce(entry, account)
    # A credit that expired while its tokens were held expires now.
    expired = _expire_due_locked(account, now, cause=f":release:{held.pk}")
    _save_account(account)
    return expired


def settle(reservation: Reservation, actual: int) -> TokenReservation:
    """Charge ``actual`` tokens for a reservation and return the rest.

    ``actual`` may be 0 (nothing used), below the amount held (the rest goes
    back) or above it (the difference is spent now, or ``InsufficientTokens``
    is raised and the reservation stays held).
    """
    if isinstance(actual, bool) or not isinstance(actual, int) or actual < 0:
        raise ValueError(f"actual must be an int of zero or more, not {actual!r}")
    if actual > MAX_AMOUNT:
        raise ValueError(f"actual must be at most {MAX_AMOUNT:,} (tokens.MAX_AMOUNT)")
    return _close(reservation, actual)


def release(reservation: Reservation) -> TokenReservation:
    """Give every held token back (the operation did not happen)."""
    return _close(reservation, 0)


# --------------------------------------------------------------------------- expiry


def expire_due(*, now: datetime | None = None, subscriber: Any = None) -> int:
    """Expire what is due; return the number of credit tokens expired.

    Writes the expiry entries of credits past their ``expires_at`` and gives
    back what reservations past theirs still hold (a worker that reserved and
    died never settles). Accounts whose subscriber was erased are swept too.
    Safe to run at any time and from several processes: each account is
    handled in its own short transaction under its lock.
    """
    subscriber_pk = None if subscriber is None else _pk(subscriber)
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
            account = _locked_account_by_pk(account_pk)
            written = _expire_due_locked(account, now)
            if written:
                _save_account(account)
            written += _release_expired_holds_locked(account, now, force=True)
            total += sum(-entry.amount for entry in written)
    if total or account_pks:
        logger.info("tokens expired total=%d accounts=%d", total, len(account_pks))
    return total


# --------------------------------------------------------------------------- money going back


def lock_account(subscriber: Any) -> None:
    """Hold ``subscriber``'s ledger lock until the current transaction ends.

    Billing state of one subscriber (subscriptions, payments, tokens) is
    always changed under this lock, taken first, so two processes working for
    one subscriber queue up instead of deadlocking. Must run in a transaction.
    """
    ensure_subscriber(subscriber)
    touched = TokenAccount.objects.filter(subscriber_id=subscriber.pk).update(
        updated=timezone.now()
    )
    if touched:
        return
    try:
        with transaction.atomic():
            TokenAccount.objects.create(subscriber_id=subscriber.pk)
    except IntegrityError:
        # Created by a concurrent transaction: wait for its lock like everyone else.
        TokenAccount.objects.filter(subscriber_id=subscriber.pk).update(updated=timezone.now())


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


def take_back(
    subscriber: Any,
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
    tokens = _check_amount(tokens, "tokens")
    if kind not in CLAIM_KINDS:
        raise ValueError(f"kind must be one of {sorted(CLAIM_KINDS)}, not {kind!r}")
    if isinstance(claimed_before, bool) or not isinstance(claimed_before, int):
        raise ValueError(f"claimed_before must be an int, not {claimed_before!r}")
    checked_reference = _check_reference(reference)
    with transaction.atomic():
        account = _locked_account(subscriber.pk)
        existing = _existing(account, checked_reference)
        if existing is not None:
            return existing
        credit_entry = _existing(account, _check_reference(credit_reference))
        if credit_entry is None or credit_entry.kind not in CREDIT_KINDS:
            return None
        now = timezone.now()
        _expire_due_locked(account, now)
        credit_entry.refresh_from_db(fields=["remaining"])
        expired, from_credit, taken_before = _claimed_from(credit_entry)
        there = credit_entry.remaining + from_credit
        used = max(0, credit_entry.amount - there - expired)

        def ideal(claimed: int) -> int:
            # Of ``claimed`` tokens asked back in all: what is there first,
            # then the expired part (never taken), then the spent part.
            take = min(claimed, there)
            if not forgive_spent:
                take += min(used, max(0, claimed - there - expired))
            return take

        due = ideal(max(0, claimed_before) + tokens) - taken_before
        if due <= 0:
            return None
        entry, taken = _debit_locked(
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


def reinstate(
    subscriber: Any, *, claim_reference: str, reference: str, description: str = ""
) -> TokenEntry | None:
    """Give back what the claim ``claim_reference`` took (a dispute that was won).

    The tokens come back as a new credit that expires when the credit they
    were taken from does (at once if that time has passed). Idempotent by
    ``reference``; ``None`` when the claim took nothing.
    """
    ensure_subscriber(subscriber)
    checked_reference = _check_reference(reference)
    with transaction.atomic():
        account = _locked_account(subscriber.pk)
        existing = _existing(account, checked_reference)
        if existing is not None:
            return existing
        claim = _existing(account, _check_reference(claim_reference))
        if claim is None or claim.kind not in CLAIM_KINDS:
            return None
        now = timezone.now()
        _expire_due_locked(account, now)
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
        _announce(entry, account)
        if expires_at is not None and expires_at <= now:
            _expire_due_locked(account, now)
        _save_account(account)
    return entry


def expire_credit(subscriber: Any, credit_reference: str, *, now: datetime | None = None) -> int:
    """End the credit ``credit_reference`` now: what is left of it expires.

    Used when the period a plan's allowance was granted for is cut short (a
    plan change that starts a new period). Returns the tokens expired.
    """
    ensure_subscriber(subscriber)
    now = now or timezone.now()
    with transaction.atomic():
        account = _locked_account(subscriber.pk)
        credit_entry = _existing(account, _check_reference(credit_reference))
        if credit_entry is None or credit_entry.kind not in CREDIT_KINDS:
            return 0
        if credit_entry.expires_at is None or credit_entry.expires_at > now:
            credit_entry.expires_at = now
            credit_entry.save(update_fields=["expires_at"])
        written = _expire_due_locked(account, now)
        if written:
            _save_account(account)
    return sum(-entry.amount for entry in written if entry.grant_id == credit_entry.pk)
