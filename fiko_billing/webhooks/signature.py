"""Verifying the ``Stripe-Signature`` header, as Stripe signs: HMAC-SHA256 of ``t.payload``."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

from django.core.exceptions import SuspiciousOperation


class WebhookSignatureError(SuspiciousOperation):
    """The request is not a genuine, fresh Stripe delivery (answered with 400)."""


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``v1`` signature of ``payload`` at ``timestamp`` (what Stripe computes)."""
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A complete ``Stripe-Signature`` header value for ``payload``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={sign(payload, secret, timestamp)}"


#: Digits of a Unix time for the next few thousand years; more is never a timestamp.
MAX_TIMESTAMP_DIGITS = 12


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        # isdigit() alone accepts "²" and other digits int() refuses, and any
        # length, up to numbers too large for a float or for int() itself.
        if key == "t" and value.isascii() and value.isdigit():
            if len(value) > MAX_TIMESTAMP_DIGITS:
                raise WebhookSignatureError("Stripe-Signature timestamp is not a Unix time")
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookSignatureError("Stripe-Signature has no timestamp or no v1 signature")
    return timestamp, signatures


def verify(
    payload: bytes,
    header: str | None,
    secrets: Iterable[str],
    *,
    tolerance: int,
    now: float | None = None,
) -> None:
    """Raise ``WebhookSignatureError`` unless one ``v1`` matches one of ``secrets``.

    Several secrets are accepted so a signing secret can be rotated without
    losing deliveries; the timestamp must be within ``tolerance`` seconds,
    which stops a captured delivery from being replayed later.
    """
    if not header:
        raise WebhookSignatureError("missing Stripe-Signature header")
    timestamp, signatures = _parse(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise WebhookSignatureError(
            f"Stripe-Signature timestamp is {int(now - timestamp)} s away from now "
            f"(tolerance {tolerance} s)"
        )
    for secret in secrets:
        expected = sign(payload, secret, timestamp)
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return
    raise WebhookSignatureError("no Stripe-Signature v1 matches a configured secret")
