"""Starting a Stripe Checkout for a plan or a token package.

A subscriber has at most one open subscription-mode Checkout Session (a plan,
or a recurring token package), so two tabs or a repeated request cannot end in
two paid subscriptions:

- Subscription checkouts of one subscriber run one at a time, under a lock on
  its ``Customer`` row (taken before any payment row).
- Before a new session is created, each of the subscriber's other open
  subscription sessions is expired in Stripe and its pending payment marked
  expired. The newest request wins.
- A repeated request for the same purchase (same item, quantity, currency and
  amount) gets the session already open, if it has at least
  ``REUSE_MIN_SECONDS_LEFT`` to live, instead of expiring it: a double click
  sends both answers to one page.
- When Stripe cannot expire a session (it is down, or slow beyond the time
  budget), no new session is created and the error propagates: the old
  session stays payable and nothing can be paid twice. A session found
  completed instead is a subscription about to start: ``already_subscribed``.

Token packages bought once open payment-mode sessions, which are never
expired: two of them are two purchases.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from fiko_billing import stripe_shapes as shapes
from fiko_billing.conf import billing_settings
from fiko_billing.exceptions import (
    BillingError,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from fiko_billing.gateway import (
    StripeGateway,
    StripeGatewayError,
    StripeInvalidRequest,
    StripeResourceMissing,
    get_gateway,
    new_idempotency_key,
)
from fiko_billing.models import Customer, Payment, PaymentStatus, Price, Product, Subscription
from fiko_billing.services.customers import ensure_customer, subscriber_metadata
from fiko_billing.subscribers import Subscriber, as_foreign_key, ensure_subscriber
from fiko_billing.vocabulary import PLAN_KINDS, ProductKind

logger = logging.getLogger("fiko_billing.checkout")

#: A kind of product as the API spells it, or the enum member.
PlanType = ProductKind | Literal["full", "token"]
SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"

#: A session is reused for a repeated request only if it stays payable this long.
REUSE_MIN_SECONDS_LEFT = 30 * 60
#: Stripe closes a Checkout Session at most 24 hours after creating it (an hour of
#: margin for clocks): an older one cannot be paid, so there is nothing to expire.
SESSION_LIFETIME = timedelta(hours=25)
#: Payment statuses of a checkout that may still be paid.
OPEN_STATUSES = (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION)


@dataclass(frozen=True)
class CheckoutStarted:
    session_id: str
    url: str
    payment: Payment


def find_price(plan_type: PlanType, plan_id: int, currency: str) -> Price:
    """The active price of an active product in ``currency``; amounts come from here only."""
    kind = ProductKind(plan_type)
    item = Product.objects.filter(pk=plan_id, kind=kind, active=True).first()
    if item is None:
        raise NotFound(str(kind.rules.not_found) % {"id": plan_id}, code="plan_not_found")
    prices = {p.currency: p for p in item.prices.filter(active=True)}
    price = prices.get(currency)
    if price is None:
        offered = ", ".join(sorted(prices)) or _("none")
        raise InvalidInput(
            _("%(item)s is not sold in %(currency)s (available: %(offered)s).")
            % {"item": item.name, "currency": currency.upper(), "offered": offered},
            code="unsupported_currency",
            fields={"currency": _("Choose one of: %(offered)s.") % {"offered": offered}},
        )
    if not price.stripe_price_id:
        raise ServiceUnavailable(
            not_synced_message(item.name, currency), code="catalogue_not_synced"
        )
    return price


def not_synced_message(item_name: str, currency: str) -> str:
    return _(
        "%(item)s (%(currency)s) has not been synced to Stripe yet; "
        "run `manage.py sync_stripe_products`."
    ) % {"item": item_name, "currency": currency.upper()}


def success_url() -> str:
    """``SUCCESS_URL`` with Stripe's ``{CHECKOUT_SESSION_ID}`` placeholder in it."""
    url = billing_settings.SUCCESS_URL
    if SESSION_PLACEHOLDER in url:
        return url
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}session_id={SESSION_PLACEHOLDER}"))


def _session_params(
    subscriber: Subscriber, price: Price, quantity: int, customer_id: str
) -> dict[str, Any]:
    product = price.product
    metadata = {
        **subscriber_metadata(subscriber),
        **product.metadata,
        "fiko_price": str(price.pk),
        "fiko_quantity": str(quantity),
    }
    params: dict[str, Any] = {
        "mode": str(product.stripe_mode),
        "customer": customer_id,
        "client_reference_id": str(subscriber.pk),
        "line_items": [{"price": price.stripe_price_id, "quantity": quantity}],
        "success_url": success_url(),
        "cancel_url": billing_settings.CANCEL_URL,
        "allow_promotion_codes": billing_settings.ALLOW_PROMOTION_CODES,
        "metadata": metadata,
    }
    if product.recurring:
        params["subscription_data"] = {"metadata": metadata}
    else:
        params["payment_intent_data"] = {"metadata": metadata}
    return params


def has_active_plan(subscriber: Subscriber) -> bool:
    """Whether the subscriber holds a plan subscription that grants its benefits."""
    ensure_subscriber(subscriber)
    return (
        Subscription.objects.entitled()
        .filter(subscriber=as_foreign_key(subscriber), product__kind__in=PLAN_KINDS)
        .exists()
    )


def start_checkout(
    subscriber: Subscriber,
    *,
    plan_type: PlanType,
    plan_id: int,
    currency: str | None,
    quantity: int,
    gateway: StripeGateway | None = None,
) -> CheckoutStarted:
    """Create a Checkout Session and record the pending payment.

    For a subscription, the subscriber's other open subscription sessions are
    expired first (see the module's docstring). Stripe failures propagate as
    ``StripeGatewayError`` with nothing written but the subscriber's Stripe
    customer (which is valid on its own) and the sessions already expired.
    """
    ensure_subscriber(subscriber)
    currency = (currency or billing_settings.CURRENCY).lower()
    if ProductKind(plan_type).rules.is_plan and has_active_plan(subscriber):
        raise Conflict(
            _("You already have an active subscription; change or cancel it instead."),
            code="already_subscribed",
        )
    price = find_price(plan_type, plan_id, currency)
    gateway = gateway or get_gateway()
    customer = ensure_customer(subscriber, gateway)
    if not price.product.recurring:
        return _open_session(subscriber, price, quantity, customer, gateway)
    outcome: CheckoutStarted | BillingError
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        try:
            outcome = _close_open_subscription_checkouts(
                subscriber, price, quantity, gateway
            ) or _open_session(subscriber, price, quantity, customer, gateway)
        except (StripeGatewayError, Conflict) as exc:
            # Raised once the sessions expired so far are recorded as such.
            outcome = exc
    if isinstance(outcome, BillingError):
        raise outcome
    return outcome


def _open_session(
    subscriber: Subscriber, price: Price, quantity: int, customer: Customer, gateway: StripeGateway
) -> CheckoutStarted:
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
    item = price.product
    payment = Payment.objects.create(
        subscriber=as_foreign_key(subscriber),
        kind=item.product_kind.rules.first_payment,
        product=item,
        quantity=quantity,
        amount=price.unit_amount * quantity,
        currency=price.currency,
        tokens=item.tokens_for(quantity),
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
    # A hosted session always has its url (only an embedded one has none).
    url = cast(str, session["url"])
    return CheckoutStarted(session_id=session["id"], url=url, payment=payment)


def open_subscription_checkouts(subscriber: Subscriber) -> QuerySet[Payment]:
    """Payments of the subscriber's subscription-mode sessions that may still be paid,
    newest first (those created within Stripe's session lifetime)."""
    return (
        Payment.objects.filter(
            subscriber=as_foreign_key(subscriber),
            status__in=OPEN_STATUSES,
            stripe_checkout_session_id__isnull=False,
            created__gte=timezone.now() - SESSION_LIFETIME,
        )
        .filter(product__interval__gt="")
        .order_by("-created", "-pk")
    )


def _same_purchase(payment: Payment, price: Price, quantity: int) -> bool:
    return (
        payment.product_id == price.product_id
        and payment.quantity == quantity
        and payment.currency == price.currency
        and payment.amount == price.unit_amount * quantity
    )


def _close_open_subscription_checkouts(
    subscriber: Subscriber, price: Price, quantity: int, gateway: StripeGateway
) -> CheckoutStarted | None:
    """Expire the subscriber's open subscription sessions; return one to reuse, if any."""
    reused: CheckoutStarted | None = None
    for payment in open_subscription_checkouts(subscriber):
        session: shapes.CheckoutSession | None = None
        if reused is None and _same_purchase(payment, price, quantity):
            session = gateway.retrieve_checkout_session(
                str(payment.stripe_checkout_session_id), expand=[]
            )
            left = int(session.get("expires_at") or 0) - time.time()
            if (
                session.get("status") == "open"
                and session.get("url")
                and (left >= REUSE_MIN_SECONDS_LEFT)
            ):
                reused = CheckoutStarted(session["id"], cast(str, session["url"]), payment)
                logger.info(
                    "checkout session %s reused for a repeated request of subscriber %s",
                    session["id"],
                    subscriber.pk,
                )
                continue
        _expire(payment, gateway, session)
    return reused


def _expire(
    payment: Payment, gateway: StripeGateway, session: shapes.CheckoutSession | None
) -> None:
    """Make ``payment``'s session unpayable in Stripe and mark the payment expired.

    ``session`` is the session as just retrieved, if it was. Raises
    ``Conflict`` when the session was completed meanwhile.
    """
    session_id = str(payment.stripe_checkout_session_id)
    if session is None or session.get("status") == "open":
        try:
            session = gateway.expire_checkout_session(
                session_id, idempotency_key=new_idempotency_key("expire")
            )
        except StripeResourceMissing:
            # Unknown to Stripe with this key: nobody can pay it here.
            session = {"id": session_id, "status": "expired"}
        except StripeInvalidRequest as exc:
            # Not open any more: completed or expired since we looked.
            session = gateway.retrieve_checkout_session(session_id, expand=[])
            if session.get("status") == "open":
                raise exc
    if session.get("status") == "complete":
        raise Conflict(
            _(
                "Another subscription checkout of yours has just been completed; the "
                "subscription will show on your account in a moment."
            ),
            code="already_subscribed",
        )
    Payment.objects.filter(pk=payment.pk, status__in=OPEN_STATUSES).update(
        status=PaymentStatus.EXPIRED, modified=timezone.now()
    )
    logger.info(
        "checkout session %s of subscriber %s expired: a newer subscription checkout replaces it",
        session_id,
        payment.subscriber_id,
    )
