"""What Stripe's failures become here: one exception per kind of failure."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import stripe
from django.utils.translation import gettext_noop

from fiko_billing.exceptions import BillingError

logger = logging.getLogger("fiko_billing.stripe")


class StripeGatewayError(BillingError):
    """Stripe could not do what we asked. ``user_message`` is safe to show a customer."""

    code = "stripe_error"
    user_message = gettext_noop(
        "The payment provider could not process the request. Please try again."
    )

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        stripe_code: str | None = None,
        request_id: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.stripe_code = stripe_code
        self.request_id = request_id
        self.param = param


class CardDeclined(StripeGatewayError):
    code = "card_declined"

    @property
    def user_message(self) -> str:  # type: ignore[override]
        # Stripe's card-error messages are written for the cardholder.
        return str(self)


class StripeInvalidRequest(StripeGatewayError):
    code = "stripe_invalid_request"


class StripeResourceMissing(StripeInvalidRequest):
    """The id we sent is unknown to Stripe (deleted, or from the other mode)."""

    code = "stripe_resource_missing"


class StripeAuthenticationFailed(StripeGatewayError):
    code = "stripe_authentication_failed"


class StripeRateLimited(StripeGatewayError):
    code = "stripe_rate_limited"
    user_message = gettext_noop("The payment provider is busy. Please try again in a moment.")


class StripeUnavailable(StripeGatewayError):
    """Connection failure, timeout or a 5xx from Stripe."""

    code = "stripe_unavailable"


class StripeTimeout(StripeUnavailable):
    """Stripe did not answer within the caller's time budget."""

    code = "stripe_timeout"
    user_message = gettext_noop(
        "The payment provider is taking too long to answer. Please try again in a moment."
    )


class StripeDisabled(StripeGatewayError):
    code = "billing_disabled"
    user_message = gettext_noop("Billing is not enabled.")


def translate_error(exc: stripe.StripeError) -> StripeGatewayError:
    kwargs: dict[str, Any] = {
        "http_status": exc.http_status,
        "stripe_code": exc.code,
        "request_id": exc.request_id,
        "param": getattr(exc, "param", None),
    }
    message = exc.user_message or str(exc) or exc.__class__.__name__
    if isinstance(exc, stripe.CardError):
        return CardDeclined(message, **kwargs)
    if isinstance(exc, stripe.RateLimitError):
        return StripeRateLimited(message, **kwargs)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return StripeAuthenticationFailed(message, **kwargs)
    if isinstance(exc, stripe.InvalidRequestError):
        if exc.code == "resource_missing":
            return StripeResourceMissing(message, **kwargs)
        return StripeInvalidRequest(message, **kwargs)
    return StripeUnavailable(message, **kwargs)


def new_idempotency_key(prefix: str) -> str:
    """A fresh key for one attempt of a write.

    The gateway's own retries of that attempt resend it; a new attempt (the
    user asks again, a command runs again) takes a new one. A key derived from
    our data would make Stripe replay a stored failure (even a 500) to every
    later attempt for 24 hours.
    """
    return f"fiko:{prefix}:{uuid.uuid4().hex}"


def logged_failure(
    exc: stripe.StripeError, method: str, path: str, started: float
) -> StripeGatewayError:
    """``exc`` translated, logged with what identifies the call at Stripe."""
    error = translate_error(exc)
    logger.warning(
        "stripe %s %s failed status=%s code=%s request_id=%s duration_ms=%.1f: %s",
        method.upper(),
        path,
        exc.http_status,
        exc.code,
        exc.request_id,
        (time.monotonic() - started) * 1000,
        error.__class__.__name__,
    )
    return error
