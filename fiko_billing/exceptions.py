"""Every error this package raises on purpose.

Configuration mistakes raise Django's ``ImproperlyConfigured``; everything
else derives from ``BillingError``. Classes also inherit the built-in a caller
is likely to catch already (``ValueError`` for bad arguments).
"""

from __future__ import annotations


class BillingError(Exception):
    """Base class of the errors of fiko_billing."""

    #: Stable machine-readable code, used in JSON error bodies.
    code = "billing_error"


class TokenError(BillingError):
    """A token ledger operation could not be done."""

    code = "token_error"


class InsufficientTokens(TokenError):
    """The subscriber's spendable balance is lower than the amount asked for."""

    code = "insufficient_tokens"

    def __init__(self, requested: int, available: int) -> None:
        self.requested = requested
        self.available = available
        super().__init__(
            f"Insufficient tokens: {requested} requested, {max(available, 0)} available."
        )


class ReferenceConflict(TokenError, ValueError):
    """A reference was reused for a different operation (other kind or amount)."""

    code = "reference_conflict"


class ReservationClosed(TokenError):
    """The reservation has already been settled, released or has expired."""

    code = "reservation_closed"


class ReservationExpired(ReservationClosed):
    """The reservation passed its ``expires_at`` before it was settled; its tokens went back."""

    code = "reservation_expired"


class ReservationNotFound(TokenError, LookupError):
    """No such reservation for this subscriber (it may be another subscriber's)."""

    code = "reservation_not_found"


class RequestError(BillingError):
    """A client request that cannot be served; views answer it with ``status``."""

    status = 400
    code = "invalid_request"

    def __init__(
        self, message: str, *, code: str | None = None, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.fields = fields or {}


class InvalidInput(RequestError):
    status = 400
    code = "invalid_input"


class NotFound(RequestError):
    status = 404
    code = "not_found"


class Conflict(RequestError):
    status = 409
    code = "conflict"


class ServiceUnavailable(RequestError):
    status = 503
    code = "unavailable"
