"""Starting a Stripe Checkout for a plan or a token package."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from django.db import transaction

from fiko_billing.conf import billing_settings
from fiko_billing.exceptions import Conflict, InvalidInput, NotFound, ServiceUnavailable
from fiko_billing.gateway import StripeGateway, StripeResourceMissing, new_idempotency_key
from fiko_billing.models import (
    Payment,
    PaymentKind,
    Plan,
    Price,
    Subscription,
    TokenPackage,
)
from fiko_billing.services.customers import ensure_customer, subscriber_metadata
from fiko_billing.subscribers import ensure_subscriber

logger = logging.getLogger("fiko_billing.checkout")

PlanType = Literal["full", "token"]
SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


@dataclass(frozen=True)
class CheckoutStarted:
    session_id: str
    url: str
    payment: Payment


def find_price(plan_type: PlanType, plan_id: int, currency: str) -> Price:
    """The active price of an active item in ``currency``; amounts come from here only."""
    item: Plan | TokenPackage | None
    if plan_type == "full":
        item = Plan.objects.filter(pk=plan_id, active=True).first()
    else:
        item = TokenPackage.objects.filter(pk=plan_id, active=True).first()
    if item is None:
        kind = "plan" if plan_type == "full" else "token package"
        raise NotFound(f"No active {kind} with id {plan_id}.", code="plan_not_found")
    prices = {p.currency: p for p in item.prices.filter(active=True)}
    price = prices.get(currency)
    if price is None:
        offered = ", ".join(sorted(prices)) or "none"
        raise InvalidInput(
            f"{item.name} is not sold in {currency.upper()} (available: {offered}).",
            code="unsupported_currency",
            fields={"currency": f"Choose one of: {offered}."},
        )
    if not price.stripe_price_id:
        raise ServiceUnavailable(
            f"{item.name} ({currency.upper()}) has not been synced to Stripe yet; "
            "run `manage.py sync_stripe_products`.",
            code="catalogue_not_synced",
        )
    return price


def success_url() -> str:
    """``SUCCESS_URL`` with Stripe's ``{CHECKOUT_SESSION_ID}`` placeholder in it."""
    url = billing_settings.SUCCESS_URL
    if SESSION_PLACEHOLDER in url:
        return url
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}session_id={SESSION_PLACEHOLDER}"))


def _session_params(
    subscriber: Any, price: Price, quantity: int, customer_id: str
) -> dict[str, Any]:
    item = price.item
    recurring = isinstance(item, Plan) or bool(getattr(item, "interval", ""))
    metadata = {
        **subscriber_metadata(subscriber),
        "fiko_item": f"{'plan' if isinstance(item, Plan) else 'package'}:{item.pk}",
        "fiko_price": str(price.pk),
        "fiko_quantity": str(quantity),
    }
    params: dict[str, Any] = {
        "mode": "subscription" if recurring else "payment",
        "customer": customer_id,
        "client_reference_id": str(subscriber.pk),
        "line_items": [{"price": price.stripe_price_id, "quantity": quantity}],
        "success_url": success_url(),
        "cancel_url": billing_settings.CANCEL_URL,
        "allow_promotion_codes": billing_settings.ALLOW_PROMOTION_CODES,
        "metadata": metadata,
    }
    if recurring:
        params["subscription_data"] = {"metadata": metadata}
    else:
        params["payment_intent_data"] = {"metadata": metadata}
    return params


def has_active_plan(subscriber: Any) -> bool:
    """Whether the subscriber holds a plan subscription that grants its benefits."""
    ensure_subscriber(subscriber)
    return (
        Subscription.objects.entitled().filter(subscriber=subscriber, plan__isnull=False).exists()
    )


def start_checkout(
    subscriber: Any,
    *,
    plan_type: PlanType,
    plan_id: int,
    currency: str | None,
    quantity: int,
    gateway: StripeGateway,
) -> CheckoutStarted:
    """Create a Checkout Session and record the pending payment.

    Stripe failures propagate as ``StripeGatewayError`` with nothing written but
    the subscriber's Stripe customer (which is valid on its own).
    """
    ensure_subscriber(subscriber)
    currency = (currency or billing_settings.CURRENCY).lower()
    if plan_type == "full" and has_active_plan(subscriber):
        raise Conflict(
            "You already have an active subscription; change or cancel it instead.",
            code="already_subscribed",
        )
    price = find_price(plan_type, plan_id, currency)
    customer = ensure_customer(subscriber, gateway)
    assert customer.stripe_customer_id is not None  # noqa: S101
    try:
        session = gateway.create_checkout_session(
            _session_params(subscriber, price, quantity, customer.stripe_customer_id),
            idempotency_key=new_idempotency_key("checkout"),
        )
    except StripeResourceMissing as exc:
        if exc.param != "customer":
            raise
        # Deleted in the dashboard, or made with the other mode's key.
        customer = ensure_customer(subscriber, gateway, replace=customer.stripe_customer_id)
        assert customer.stripe_customer_id is not None  # noqa: S101
        session = gateway.create_checkout_session(
            _session_params(subscriber, price, quantity, customer.stripe_customer_id),
            idempotency_key=new_idempotency_key("checkout"),
        )
    item = price.item
    with transaction.atomic():
        payment = Payment.objects.create(
            subscriber=subscriber,
            kind=PaymentKind.SUBSCRIPTION if isinstance(item, Plan) else PaymentKind.TOKEN_PACKAGE,
            plan=item if isinstance(item, Plan) else None,
            package=item if isinstance(item, TokenPackage) else None,
            quantity=quantity,
            amount=price.unit_amount * quantity,
            currency=price.currency,
            tokens=(item.tokens_per_period if isinstance(item, Plan) else item.tokens) * quantity,
            stripe_checkout_session_id=session["id"],
            livemode=bool(session.get("livemode", False)),
        )
    logger.info(
        "checkout session %s created for subscriber %s: %s x%d %s",
        session["id"],
        subscriber.pk,
        item,
        quantity,
        price.display,
    )
    return CheckoutStarted(session_id=session["id"], url=session["url"], payment=payment)
