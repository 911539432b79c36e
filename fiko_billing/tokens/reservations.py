"""Holds on tokens: ``reserve``, ``get_reservation``, ``settle`` and ``release``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from fiko_billing.conf import MAX_RESERVATION_TIMEOUT, billing_settings
from fiko_billing.exceptions import (
    ReferenceConflict,
    ReservationClosed,
    ReservationExpired,
    ReservationNotFound,
)
from fiko_billing.models import (
    EntryKind,
    ReservationStatus,
    TokenAccount,
    TokenAllocation,
    TokenReservation,
)
from fiko_billing.subscribers import Subscriber
from fiko_billing.tokens import hot_path
from fiko_billing.tokens.accounts import locked_account
from fiko_billing.tokens.movements import debit_locked, put_back, release_expired_holds_locked
from fiko_billing.tokens.validation import (
    MAX_AMOUNT,
    MAX_TEXT_LENGTH,
    RESERVE_PREFIX,
    check_amount,
    check_reference,
    check_text,
    pk_of,
)


@dataclass(frozen=True)
class Reservation:
    """Tokens held by ``reserve``; call ``settle(actual)`` or ``release()`` exactly once.

    Another process can get the same object back with ``get_reservation``.
    ``reused`` is true when ``reserve`` found the hold an earlier call with the
    same reference made (open or already closed) and returned it.
    """

    pk: int
    subscriber: Subscriber
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


def _reservation(
    row: TokenReservation, subscriber: Subscriber, *, reused: bool = False
) -> Reservation:
    return Reservation(
        row.pk, subscriber, row.amount, row.reference, row.expires_at, reused=reused
    )


def reserve(
    subscriber: Subscriber,
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
    subscriber_pk = pk_of(subscriber)
    amount = check_amount(amount)
    reference = check_reference(reference, max_length=MAX_TEXT_LENGTH - len(RESERVE_PREFIX))
    description = check_text(description, "description")
    now = timezone.now()
    expires_at = _hold_expiry(expires_in, now)
    entry_reference = None if reference is None else f"{RESERVE_PREFIX}{reference}"
    pk = hot_path.reserve(
        subscriber_pk,
        amount,
        reference=reference,
        entry_reference=entry_reference,
        description=description,
        now=now,
        expires_at=expires_at,
    )
    if pk is not None:
        return Reservation(pk, subscriber, amount, reference, expires_at)
    with transaction.atomic():
        account = locked_account(subscriber_pk)
        if reference is not None:
            held = TokenReservation.objects.filter(account=account, reference=reference).first()
            if held is not None:
                if held.amount != amount:
                    raise ReferenceConflict(
                        f"reference {reference!r} already reserved {held.amount} tokens"
                    )
                return _reservation(held, subscriber, reused=True)
        held = _hold_locked(account, amount, entry_reference, description, now, expires_at)
    return _reservation(held, subscriber)


def _hold_locked(
    account: TokenAccount,
    amount: int,
    entry_reference: str | None,
    description: str,
    now: datetime,
    expires_at: datetime,
) -> TokenReservation:
    release_expired_holds_locked(account, now)
    # Saved with the debit below; the earliest expiry is all the sweep needs.
    account.holds_expire_at = min(filter(None, (account.holds_expire_at, expires_at)))
    entry, taken = debit_locked(
        account,
        amount,
        kind=EntryKind.RESERVE,
        reference=entry_reference,
        description=description,
        now=now,
        allow_debt=False,
    )
    TokenAllocation.objects.bulk_create(
        TokenAllocation(debit=entry, grant=grant, amount=part) for grant, part in taken
    )
    reference = None if entry_reference is None else entry_reference[len(RESERVE_PREFIX) :]
    return TokenReservation.objects.create(
        account=account,
        amount=amount,
        reference=reference,
        entry=entry,
        description=description,
        expires_at=expires_at,
    )


def get_reservation(subscriber: Subscriber, reference: str) -> Reservation:
    """The reservation ``subscriber`` made under ``reference``, to settle or release it.

    For a hold made by another process (a web request reserves, a worker
    settles). Raises ``ReservationNotFound`` when the subscriber has none with
    that reference; a reservation already closed is returned as well (closing
    it again the same way is harmless, differently raises ``ReservationClosed``).
    """
    subscriber_pk = pk_of(subscriber)
    checked = check_reference(reference, max_length=MAX_TEXT_LENGTH - len(RESERVE_PREFIX))
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
    subscriber_pk = pk_of(reservation.subscriber)
    done = hot_path.settle(subscriber_pk, reservation.pk, actual, timezone.now())
    if done is not None:
        return done
    with transaction.atomic():
        account = locked_account(subscriber_pk)
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
        release_expired_holds_locked(account, now, force=force)
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
        debit_locked(
            account,
            extra,
            kind=EntryKind.CONSUME,
            reference=f"reservation:{held.pk}:overage",
            description=held.description or "Reservation overage",
            now=now,
            allow_debt=False,
        )
    elif extra < 0:
        put_back(account, held, -extra, now)
    held.settled_amount = actual
    held.status = ReservationStatus.RELEASED if actual == 0 else ReservationStatus.SETTLED
    held.closed_at = now
    held.save(update_fields=["settled_amount", "status", "closed_at"])
    return held


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
