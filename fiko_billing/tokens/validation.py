"""What the ledger accepts: amounts, texts, expiries, references and subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from fiko_billing.models import EntryKind
from fiko_billing.subscribers import Subscriber, ensure_subscriber

CREDITABLE_KINDS = frozenset({EntryKind.GRANT, EntryKind.PURCHASE, EntryKind.ADJUSTMENT})
REVOCABLE_KINDS = frozenset({EntryKind.REFUND, EntryKind.ADJUSTMENT})
#: Debits that take back tokens because the money that bought them went back.
CLAIM_KINDS = frozenset({EntryKind.REFUND, EntryKind.DISPUTE})
RESERVE_PREFIX = "reserve:"
#: The description of a release entry when its hold has none.
RELEASE_DESCRIPTION = "Unused part of a reservation"

#: The most tokens one operation may move. Far beyond any real purchase, it
#: keeps every sum of amounts far below the 64-bit limit of the columns.
MAX_AMOUNT = 10**12
#: The most a balance may hold, and the most it may owe: a credit that would
#: take it above, or a revocation that would take it below ``-MAX_BALANCE``,
#: raises ``ValueError`` and changes nothing.
MAX_BALANCE = 10**15
#: The longest ``description``, ``reason`` and ``reference`` (the columns' size).
MAX_TEXT_LENGTH = 255


def check_amount(amount: object, name: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"{name} must be a positive int, not {amount!r}")
    if amount <= 0:
        raise ValueError(f"{name} must be a positive int, not {amount}")
    if amount > MAX_AMOUNT:
        raise ValueError(f"{name} must be at most {MAX_AMOUNT:,} (tokens.MAX_AMOUNT)")
    return amount


def check_text(value: object, name: str, max_length: int = MAX_TEXT_LENGTH) -> str:
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


def check_expiry(expires_at: object, now: datetime) -> datetime | None:
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


def check_reference(reference: object, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    if reference is None:
        return None
    if not isinstance(reference, str) or not reference or len(reference) > max_length:
        raise ValueError(f"reference must be a non-empty str of at most {max_length} characters")
    check_text(reference, "reference", max_length)
    if reference.startswith(INTERNAL_PREFIXES):
        raise ValueError(
            f"references starting with {', '.join(INTERNAL_PREFIXES)} are the ledger's own"
        )
    return reference


def pk_of(subscriber: Subscriber) -> Any:
    """The primary key of ``subscriber``, once it is known to be one (``TypeError`` if not)."""
    return ensure_subscriber(subscriber).pk


def max_balance() -> int:
    """``tokens.MAX_BALANCE``, read from the package that publishes it.

    Looked up at each call rather than imported, so that the public name is
    the one that counts (a test lowers it there to reach the bound).
    """
    from fiko_billing import tokens

    return int(tokens.MAX_BALANCE)
