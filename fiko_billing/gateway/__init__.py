"""The one package that talks to Stripe.

Everything else calls ``get_gateway()`` and works with plain ``dict`` objects in
the shape of the pinned API version, the same shape webhook payloads have.
Configuration reaches the SDK through one ``StripeClient`` built from the
settings (key, pinned API version, ``STRIPE_API_BASE``, timeout); no library
global is touched, so tests and the emulator plug in by pointing
``STRIPE_API_BASE`` at a local server.

Time. Every call runs under a time budget (``time_budget``): the API's views
share ``STRIPE_REQUEST_TIME_BUDGET`` for all their calls, management commands
give each call ``STRIPE_COMMAND_TIME_BUDGET``, and a call made outside any
budget gets the request budget of its own. The gateway retries itself (the
SDK's retries are off) so that no attempt and no backoff outlasts the budget;
a retry resends the same idempotency key, so Stripe never does a write twice.
When the budget is spent, ``StripeTimeout`` is raised.

``errors`` maps Stripe's failures to our exceptions, ``budget`` holds the time
budgets, ``client`` the gateway itself; everything public is importable from
here.
"""

from fiko_billing.gateway.budget import (
    command_time_budget,
    request_time_budget,
    time_budget,
)
from fiko_billing.gateway.client import StripeDict, StripeGateway, get_gateway
from fiko_billing.gateway.errors import (
    CardDeclined,
    StripeAuthenticationFailed,
    StripeDisabled,
    StripeGatewayError,
    StripeInvalidRequest,
    StripeRateLimited,
    StripeResourceMissing,
    StripeTimeout,
    StripeUnavailable,
    new_idempotency_key,
)

__all__ = [
    "CardDeclined",
    "StripeAuthenticationFailed",
    "StripeDict",
    "StripeDisabled",
    "StripeGateway",
    "StripeGatewayError",
    "StripeInvalidRequest",
    "StripeRateLimited",
    "StripeResourceMissing",
    "StripeTimeout",
    "StripeUnavailable",
    "command_time_budget",
    "get_gateway",
    "new_idempotency_key",
    "request_time_budget",
    "time_budget",
]
