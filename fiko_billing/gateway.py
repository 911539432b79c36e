"""The one module that talks to Stripe.

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
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

import requests
import stripe
from django.utils.translation import gettext_noop

from fiko_billing import stripe_shapes as shapes
from fiko_billing.conf import billing_settings
from fiko_billing.exceptions import BillingError

logger = logging.getLogger("fiko_billing.stripe")

StripeDict = dict[str, Any]


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


def _translate(exc: stripe.StripeError) -> StripeGatewayError:
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


# ---------------------------------------------------------------------- time budgets

#: Backoff before retry n is RETRY_INITIAL_DELAY * 2**(n-1), at most RETRY_MAX_DELAY,
#: taken at random from its upper half so that clients do not retry in step.
RETRY_INITIAL_DELAY = 0.5
RETRY_MAX_DELAY = 5.0
#: No attempt is started with less time left than this: it could not be answered.
MIN_ATTEMPT_SECONDS = 0.05


@dataclass(frozen=True)
class _Budget:
    #: The seconds given to the scope (shown in ``StripeTimeout``).
    seconds: float
    #: Seconds each call may take.
    per_call: float
    #: ``time.monotonic()`` by which every call of the scope must be done, if shared.
    deadline: float | None


_budget: ContextVar[_Budget | None] = ContextVar("fiko_billing_stripe_budget", default=None)
_attempt_timeout: ContextVar[float | None] = ContextVar(
    "fiko_billing_stripe_attempt_timeout", default=None
)


@contextmanager
def time_budget(seconds: float, *, each_call: bool = False) -> Iterator[None]:
    """Bound the time the Stripe calls made inside may take, retries included.

    By default the calls share ``seconds`` (someone is waiting for all of
    them); with ``each_call`` each call gets ``seconds`` of its own (a command
    working through many objects). A budget opened inside another never
    extends it. A call that runs out raises ``StripeTimeout``.
    """
    if not seconds > 0:
        raise ValueError(f"a time budget must be more than zero seconds, not {seconds!r}")
    outer = _budget.get()
    deadline = None if each_call else time.monotonic() + seconds
    per_call = seconds
    if outer is not None:
        per_call = min(per_call, outer.per_call)
        if outer.deadline is not None:
            deadline = outer.deadline if deadline is None else min(deadline, outer.deadline)
    token = _budget.set(_Budget(seconds, per_call, deadline))
    try:
        yield
    finally:
        _budget.reset(token)


def request_time_budget() -> AbstractContextManager[None]:
    """The budget of an API request: ``STRIPE_REQUEST_TIME_BUDGET`` for all its calls."""
    return time_budget(billing_settings.STRIPE_REQUEST_TIME_BUDGET)


def command_time_budget() -> AbstractContextManager[None]:
    """The budget of a management command: ``STRIPE_COMMAND_TIME_BUDGET`` for each call."""
    return time_budget(billing_settings.STRIPE_COMMAND_TIME_BUDGET, each_call=True)


def _call_deadline() -> tuple[float, float]:
    """When the next call must be done (``time.monotonic()``), and its budget in seconds."""
    now = time.monotonic()
    budget = _budget.get()
    if budget is None:
        seconds = billing_settings.STRIPE_REQUEST_TIME_BUDGET
        return now + seconds, seconds
    deadline = now + budget.per_call
    if budget.deadline is not None:
        deadline = min(deadline, budget.deadline)
    return deadline, budget.seconds


class _BudgetedSession(requests.Session):
    """A ``requests`` session whose timeout is the time left for the current attempt."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        timeout = _attempt_timeout.get()
        if timeout is not None:
            kwargs["timeout"] = timeout
        return super().request(*args, **kwargs)


def _should_retry(exc: stripe.StripeError) -> bool:
    """Whether another attempt may succeed: what the SDK itself would retry."""
    if isinstance(exc, stripe.APIConnectionError):
        return bool(exc.should_retry)
    headers = {str(k).lower(): v for k, v in (exc.headers or {}).items()}
    advice = headers.get("stripe-should-retry")
    if advice in ("true", "false"):
        return advice == "true"
    status = exc.http_status or 0
    return status == 409 or status >= 500


def _backoff(retry: int) -> float:
    delay: float = min(RETRY_INITIAL_DELAY * 2 ** (retry - 1), RETRY_MAX_DELAY)
    return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


def _timed_out(exc: stripe.StripeError) -> bool:
    return isinstance(exc, stripe.APIConnectionError) and isinstance(
        exc.__cause__, requests.exceptions.Timeout
    )


class StripeGateway:
    """Stripe's API as this package uses it: every call logged, every error translated."""

    def __init__(
        self,
        *,
        api_key: str,
        api_version: str,
        api_base: str,
        timeout: float,
        max_network_retries: int,
    ) -> None:
        if not api_key:
            raise StripeDisabled(
                "FIKO_BILLING['STRIPE_SECRET_KEY'] is empty: Stripe cannot be called."
            )
        self.api_base = api_base
        self.timeout = timeout
        self.max_network_retries = max_network_retries
        self._client = stripe.StripeClient(
            api_key,
            stripe_version=api_version,
            base_addresses={"api": api_base},
            # Retried here instead, within the time budget.
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout, session=_BudgetedSession()),
        )

    @classmethod
    def from_settings(cls) -> StripeGateway:
        if not billing_settings.ENABLED:
            raise StripeDisabled("Stripe is not enabled: set FIKO_BILLING['ENABLED'] to True.")
        return cls(
            api_key=billing_settings.STRIPE_SECRET_KEY,
            api_version=billing_settings.STRIPE_API_VERSION,
            api_base=billing_settings.STRIPE_API_BASE,
            timeout=billing_settings.STRIPE_TIMEOUT,
            max_network_retries=billing_settings.STRIPE_MAX_NETWORK_RETRIES,
        )

    # ------------------------------------------------------------------ transport

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> StripeDict:
        """One API call; returns the decoded JSON object or raises ``StripeGatewayError``.

        Connection failures, timeouts, 409s and 5xx answers are retried up to
        ``STRIPE_MAX_NETWORK_RETRIES`` times with the same idempotency key, as
        long as the time budget leaves room for the backoff and an attempt.
        """
        method = method.lower()
        if method == "post" and idempotency_key is None:
            raise ValueError(f"POST {path} needs an idempotency key")
        call_params: dict[str, Any] = dict(params or {})
        if idempotency_key is not None:
            call_params["idempotency_key"] = idempotency_key
        started = time.monotonic()
        deadline, budget = _call_deadline()
        retries = 0
        while True:
            left = deadline - time.monotonic()
            if left < MIN_ATTEMPT_SECONDS:
                raise self._out_of_time(method, path, budget, started, retries)
            token = _attempt_timeout.set(min(self.timeout, left))
            try:
                response = self._client.raw_request(method, path, **call_params)
            except stripe.StripeError as exc:
                if retries < self.max_network_retries and _should_retry(exc):
                    delay = _backoff(retries + 1)
                    if time.monotonic() + delay + MIN_ATTEMPT_SECONDS < deadline:
                        retries += 1
                        logger.info(
                            "stripe %s %s: retry %d in %.2f s after status=%s",
                            method.upper(),
                            path,
                            retries,
                            delay,
                            exc.http_status,
                        )
                        time.sleep(delay)
                        continue
                if _timed_out(exc):
                    raise self._out_of_time(method, path, budget, started, retries) from exc
                error = _translate(exc)
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
                raise error from exc
            finally:
                _attempt_timeout.reset(token)
            break
        logger.info(
            "stripe %s %s status=%s request_id=%s duration_ms=%.1f%s",
            method.upper(),
            path,
            response.code,
            response.request_id,
            (time.monotonic() - started) * 1000,
            f" retries={retries}" if retries else "",
        )
        data = response.data
        if not isinstance(data, dict):
            raise StripeUnavailable(f"Stripe answered {path} with a non-object body")
        return data

    @staticmethod
    def _out_of_time(
        method: str, path: str, budget: float, started: float, retries: int
    ) -> StripeTimeout:
        elapsed = time.monotonic() - started
        logger.warning(
            "stripe %s %s timed out duration_ms=%.1f retries=%d budget_s=%g",
            method.upper(),
            path,
            elapsed * 1000,
            retries,
            budget,
        )
        return StripeTimeout(
            f"Stripe did not answer {method.upper()} {path} within the time budget "
            f"({budget:.3g} s)."
        )

    def list_all(
        self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int = 100
    ) -> Iterator[StripeDict]:
        """Every object of a list endpoint, following ``starting_after`` pages."""
        query: dict[str, Any] = {**(params or {}), "limit": page_size}
        while True:
            page = self.request("get", path, query)
            items = page.get("data") or []
            yield from items
            if not page.get("has_more") or not items:
                return
            query["starting_after"] = items[-1]["id"]

    # ------------------------------------------------------------------ customers

    def create_customer(
        self, params: Mapping[str, Any], *, idempotency_key: str
    ) -> shapes.Customer:
        return cast(
            "shapes.Customer",
            self.request("post", "/v1/customers", params, idempotency_key=idempotency_key),
        )

    def retrieve_customer(self, customer_id: str) -> shapes.Customer:
        return cast("shapes.Customer", self.request("get", f"/v1/customers/{customer_id}"))

    def list_customers(self, params: Mapping[str, Any]) -> Iterator[shapes.Customer]:
        """Customers matching ``params`` (``email``, ``created[gte]``...), newest first."""
        return cast("Iterator[shapes.Customer]", self.list_all("/v1/customers", params))

    def delete_customer(self, customer_id: str) -> shapes.Customer:
        """Delete a customer (what a privacy request asks); its payments stay in Stripe."""
        return cast("shapes.Customer", self.request("delete", f"/v1/customers/{customer_id}"))

    # ------------------------------------------------------------------ checkout and portal

    def create_checkout_session(
        self, params: Mapping[str, Any], *, idempotency_key: str
    ) -> shapes.CheckoutSession:
        return cast(
            "shapes.CheckoutSession",
            self.request("post", "/v1/checkout/sessions", params, idempotency_key=idempotency_key),
        )

    def retrieve_checkout_session(
        self, session_id: str, *, expand: list[str]
    ) -> shapes.CheckoutSession:
        return cast(
            "shapes.CheckoutSession",
            self.request("get", f"/v1/checkout/sessions/{session_id}", {"expand": expand}),
        )

    def expire_checkout_session(
        self, session_id: str, *, idempotency_key: str
    ) -> shapes.CheckoutSession:
        """Close an open session so it can no longer be paid; a 400 if it is not open."""
        return cast(
            "shapes.CheckoutSession",
            self.request(
                "post",
                f"/v1/checkout/sessions/{session_id}/expire",
                idempotency_key=idempotency_key,
            ),
        )

    def create_portal_session(
        self, params: Mapping[str, Any], *, idempotency_key: str
    ) -> StripeDict:
        return self.request(
            "post", "/v1/billing_portal/sessions", params, idempotency_key=idempotency_key
        )

    # ------------------------------------------------------------------ subscriptions

    def retrieve_subscription(self, subscription_id: str) -> shapes.Subscription:
        return cast(
            "shapes.Subscription", self.request("get", f"/v1/subscriptions/{subscription_id}")
        )

    def update_subscription(
        self, subscription_id: str, params: Mapping[str, Any], *, idempotency_key: str
    ) -> shapes.Subscription:
        return cast(
            "shapes.Subscription",
            self.request(
                "post",
                f"/v1/subscriptions/{subscription_id}",
                params,
                idempotency_key=idempotency_key,
            ),
        )

    def preview_invoice(
        self, params: Mapping[str, Any], *, idempotency_key: str
    ) -> shapes.Invoice:
        """The invoice a subscription change would bring (``create_preview``); changes nothing."""
        return cast(
            "shapes.Invoice",
            self.request(
                "post", "/v1/invoices/create_preview", params, idempotency_key=idempotency_key
            ),
        )

    def cancel_subscription(self, subscription_id: str) -> shapes.Subscription:
        return cast(
            "shapes.Subscription", self.request("delete", f"/v1/subscriptions/{subscription_id}")
        )

    # ------------------------------------------------------------------ catalogue

    def create_product(self, params: Mapping[str, Any], *, idempotency_key: str) -> shapes.Product:
        return cast(
            "shapes.Product",
            self.request("post", "/v1/products", params, idempotency_key=idempotency_key),
        )

    def update_product(
        self, product_id: str, params: Mapping[str, Any], *, idempotency_key: str
    ) -> shapes.Product:
        return cast(
            "shapes.Product",
            self.request(
                "post", f"/v1/products/{product_id}", params, idempotency_key=idempotency_key
            ),
        )

    def retrieve_product(self, product_id: str) -> shapes.Product:
        return cast("shapes.Product", self.request("get", f"/v1/products/{product_id}"))

    def create_price(self, params: Mapping[str, Any], *, idempotency_key: str) -> shapes.Price:
        return cast(
            "shapes.Price",
            self.request("post", "/v1/prices", params, idempotency_key=idempotency_key),
        )

    def update_price(
        self, price_id: str, params: Mapping[str, Any], *, idempotency_key: str
    ) -> shapes.Price:
        return cast(
            "shapes.Price",
            self.request(
                "post", f"/v1/prices/{price_id}", params, idempotency_key=idempotency_key
            ),
        )

    def retrieve_price(self, price_id: str) -> shapes.Price:
        return cast("shapes.Price", self.request("get", f"/v1/prices/{price_id}"))

    def list_prices(self, product_id: str) -> Iterator[shapes.Price]:
        """Every price of a product, active and archived, in as few calls as paging allows."""
        return cast("Iterator[shapes.Price]", self.list_all("/v1/prices", {"product": product_id}))

    # ------------------------------------------------------------------ webhook endpoints

    def list_webhook_endpoints(self) -> Iterator[shapes.WebhookEndpoint]:
        return cast("Iterator[shapes.WebhookEndpoint]", self.list_all("/v1/webhook_endpoints"))

    def create_webhook_endpoint(
        self, params: Mapping[str, Any], *, idempotency_key: str
    ) -> shapes.WebhookEndpoint:
        return cast(
            "shapes.WebhookEndpoint",
            self.request("post", "/v1/webhook_endpoints", params, idempotency_key=idempotency_key),
        )

    def update_webhook_endpoint(
        self, endpoint_id: str, params: Mapping[str, Any], *, idempotency_key: str
    ) -> shapes.WebhookEndpoint:
        return cast(
            "shapes.WebhookEndpoint",
            self.request(
                "post",
                f"/v1/webhook_endpoints/{endpoint_id}",
                params,
                idempotency_key=idempotency_key,
            ),
        )

    # ------------------------------------------------------------------ money going back

    def create_refund(self, params: Mapping[str, Any], *, idempotency_key: str) -> shapes.Refund:
        return cast(
            "shapes.Refund",
            self.request("post", "/v1/refunds", params, idempotency_key=idempotency_key),
        )

    def list_invoice_payments(
        self, *, invoice: str | None = None, payment_intent: str | None = None
    ) -> Iterator[shapes.InvoicePayment]:
        """The payments of an invoice, or the invoice payments of a PaymentIntent."""
        params: dict[str, Any] = {}
        if invoice is not None:
            params["invoice"] = invoice
        if payment_intent is not None:
            params["payment"] = {"type": "payment_intent", "payment_intent": payment_intent}
        return cast(
            "Iterator[shapes.InvoicePayment]", self.list_all("/v1/invoice_payments", params)
        )


_cached: tuple[tuple[Any, ...], StripeGateway] | None = None


def get_gateway() -> StripeGateway:
    """The gateway for the current settings (rebuilt when they change).

    Raises ``StripeDisabled`` when billing is off or no secret key is set, and
    ``ImproperlyConfigured`` for invalid settings.
    """
    global _cached
    if not billing_settings.ENABLED:
        raise StripeDisabled("Stripe is not enabled: set FIKO_BILLING['ENABLED'] to True.")
    key = (
        billing_settings.STRIPE_SECRET_KEY,
        billing_settings.STRIPE_API_VERSION,
        billing_settings.STRIPE_API_BASE,
        billing_settings.STRIPE_TIMEOUT,
        billing_settings.STRIPE_MAX_NETWORK_RETRIES,
    )
    if _cached is None or _cached[0] != key:
        _cached = (key, StripeGateway.from_settings())
    return _cached[1]
