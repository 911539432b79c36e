"""The gateway itself: Stripe's API as this package uses it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any, cast

import stripe

from fiko_billing import stripe_shapes as shapes
from fiko_billing.conf import billing_settings
from fiko_billing.gateway.budget import (
    MIN_ATTEMPT_SECONDS,
    BudgetedSession,
    attempt_timeout,
    call_deadline,
    retry_delay,
    timed_out,
)
from fiko_billing.gateway.errors import (
    StripeDisabled,
    StripeTimeout,
    StripeUnavailable,
    logged_failure,
)

logger = logging.getLogger("fiko_billing.stripe")

StripeDict = dict[str, Any]


def _call_params(
    method: str, path: str, params: Mapping[str, Any] | None, idempotency_key: str | None
) -> dict[str, Any]:
    # Without a key a retried POST could act twice.
    if method == "post" and idempotency_key is None:
        raise ValueError(f"POST {path} needs an idempotency key")
    call_params: dict[str, Any] = dict(params or {})
    if idempotency_key is not None:
        call_params["idempotency_key"] = idempotency_key
    return call_params


def _answer(
    response: stripe.StripeResponse, method: str, path: str, started: float, retries: int
) -> StripeDict:
    """The answer's JSON object, logged with what identifies the call at Stripe."""
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
            http_client=stripe.RequestsClient(timeout=timeout, session=BudgetedSession()),
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
        call_params = _call_params(method, path, params, idempotency_key)
        started = time.monotonic()
        deadline, budget = call_deadline()
        retries = 0
        while True:
            left = deadline - time.monotonic()
            if left < MIN_ATTEMPT_SECONDS:
                raise self._out_of_time(method, path, budget, started, retries)
            token = attempt_timeout.set(min(self.timeout, left))
            try:
                response = self._client.raw_request(method, path, **call_params)
            except stripe.StripeError as exc:
                delay = retry_delay(exc, retries, self.max_network_retries, deadline)
                if delay is not None:
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
                if timed_out(exc):
                    raise self._out_of_time(method, path, budget, started, retries) from exc
                raise logged_failure(exc, method, path, started) from exc
            finally:
                attempt_timeout.reset(token)
            break
        return _answer(response, method, path, started, retries)

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
