"""The JSON API. Views are thin: parse, call a service, shape the answer."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie

from fiko_billing import tokens
from fiko_billing.api import endpoint
from fiko_billing.conf import billing_settings
from fiko_billing.exceptions import NotFound
from fiko_billing.inputs import (
    CancelSubscriptionInput,
    ChangeSubscriptionInput,
    CheckoutSessionInput,
    NoInput,
    PageInput,
    PortalSessionInput,
)
from fiko_billing.models import (
    Payment,
    PaymentStatus,
    Plan,
    Price,
    Subscription,
    TokenEntry,
    TokenPackage,
)
from fiko_billing.money import format_amount
from fiko_billing.services import checkout, checkout_status, portal, subscriptions
from fiko_billing.services.customers import customer_of
from fiko_billing.subscribers import Subscriber, as_foreign_key

logger = logging.getLogger("fiko_billing.api")

Answer = tuple[int, dict[str, Any]]
#: What a Stripe object id looks like (``cs_test_a1B2…``): ASCII letters, digits, ``_``.
STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def _price_json(price: Price) -> dict[str, Any]:
    return {
        "currency": price.currency,
        "unit_amount": price.unit_amount,
        "display": price.display,
    }


def _active_prices() -> Prefetch[Any]:
    return Prefetch("prices", queryset=Price.objects.filter(active=True).order_by("currency"))


@ensure_csrf_cookie  # a single-page app on the session needs the token
@endpoint(methods=["GET"], statuses=[200], authenticated=False)
def plans(request: HttpRequest, subscriber: Subscriber | None) -> Answer:
    """Active plans and token packages with their prices per currency."""
    plan_rows = Plan.objects.filter(active=True).prefetch_related(_active_prices())
    package_rows = TokenPackage.objects.filter(active=True).prefetch_related(_active_prices())
    return 200, {
        "currency": billing_settings.CURRENCY,
        "plans": [
            {
                "id": plan.pk,
                "plan_type": plan.kind,
                "name": plan.name,
                "description": plan.description,
                "interval": plan.interval,
                "tokens_per_period": plan.tokens_per_period,
                "prices": [_price_json(p) for p in plan.prices.all()],
            }
            for plan in plan_rows
        ],
        "token_packages": [
            {
                "id": package.pk,
                "plan_type": package.kind,
                "name": package.name,
                "description": package.description,
                "tokens": package.tokens,
                "recurring": package.recurring,
                "interval": package.interval or None,
                "prices": [_price_json(p) for p in package.prices.all()],
            }
            for package in package_rows
        ],
    }


def _subscription_json(row: Subscription | None) -> dict[str, Any]:
    if row is None:
        return {
            "plan": None,
            "status": "none",
            "current_period_end": None,
            "days_remaining": 0,
            "cancel_at_period_end": False,
            "period_allowance": 0,
        }
    end = row.current_period_end
    days = 0
    if end is not None and row.is_entitled:
        days = max(0, math.ceil((end - timezone.now()).total_seconds() / 86400))
    plan = row.plan
    return {
        "plan": None
        if plan is None
        else {"id": plan.pk, "name": plan.name, "interval": plan.interval},
        "status": row.status,
        "current_period_end": end.isoformat() if end else None,
        "days_remaining": days,
        "cancel_at_period_end": row.cancel_at_period_end or row.cancel_at is not None,
        "period_allowance": (plan.tokens_per_period * row.quantity) if plan else 0,
    }


@ensure_csrf_cookie  # a single-page app on the session needs the token
@endpoint(methods=["GET"], statuses=[200])
def account(request: HttpRequest, subscriber: Subscriber) -> Answer:
    """The subscriber's plan, status, period, tokens and currency."""
    row = subscriptions.current_subscription(subscriber)
    currency = row.price.currency if row is not None and row.price else billing_settings.CURRENCY
    return 200, {
        **_subscription_json(row),
        "token_balance": tokens.balance(subscriber),
        "currency": currency,
    }


@endpoint(methods=["POST"], statuses=[200, 404, 409, 502], input_form=CheckoutSessionInput)
def create_checkout_session(
    request: HttpRequest, subscriber: Subscriber, data: dict[str, Any]
) -> Answer:
    started = checkout.start_checkout(
        subscriber,
        plan_type=data["plan_type"],
        plan_id=data["plan_id"],
        currency=data["currency"],
        quantity=data["quantity"],
    )
    return 200, {"id": started.session_id, "url": started.url}


def _payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.pk,
        "kind": payment.kind,
        "status": payment.status,
        "amount": payment.amount,
        "amount_discount": payment.amount_discount,
        "amount_refunded": payment.amount_refunded,
        "currency": payment.currency,
        "display": format_amount(payment.amount, payment.currency),
        "tokens": payment.tokens,
        "quantity": payment.quantity,
        "checkout_session_id": payment.stripe_checkout_session_id,
        "hosted_invoice_url": payment.hosted_invoice_url or None,
        "created": payment.created.isoformat(),
        "fulfilled_at": payment.fulfilled_at.isoformat() if payment.fulfilled_at else None,
    }


def _may_ask_stripe(payment: Payment) -> bool:
    """Whether this poll may retrieve the session: once per ``CHECKOUT_STATUS_POLL_INTERVAL``.

    ``cache.add`` claims the slot atomically, so concurrent polls (tabs, one
    client polling fast) share one Stripe call; the others answer what the
    database knows, which the webhook keeps current.
    """
    interval = billing_settings.CHECKOUT_STATUS_POLL_INTERVAL
    if interval == 0:
        return True
    try:
        return bool(
            cache.add(f"fiko_billing:checkout-status:{payment.pk}", True, timeout=interval)
        )
    except Exception:
        # Without the cache the interval cannot be kept; asking Stripe on every
        # poll would spend the rate limit, so answer what the webhooks recorded.
        logger.warning("checkout status: the cache failed; answering from the database")
        return False


@endpoint(methods=["GET"], statuses=[200, 404, 502])
def checkout_session_status(
    request: HttpRequest, subscriber: Subscriber, session_id: str
) -> Answer:
    """Where a checkout stands; fulfils it if Stripe says it is paid and no webhook did yet."""
    if not STRIPE_ID.fullmatch(session_id):
        # Not an id Stripe makes: it names nothing of ours, and never reaches the database.
        raise NotFound("No such checkout session.", code="checkout_session_not_found")
    payment = Payment.objects.filter(
        stripe_checkout_session_id=session_id, subscriber=as_foreign_key(subscriber)
    ).first()
    if payment is None:
        raise NotFound(_("No such checkout session."), code="checkout_session_not_found")
    if (
        payment.fulfilled_at is None
        and payment.status in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION)
        and _may_ask_stripe(payment)
    ):
        payment = checkout_status.fulfil_from_stripe(payment, session_id)
    return 200, {
        "id": session_id,
        "fulfilled": payment.fulfilled_at is not None,
        "payment": _payment_json(payment),
        "token_balance": tokens.balance(subscriber),
    }


@endpoint(methods=["POST"], statuses=[200, 404, 502], input_form=PortalSessionInput)
def create_portal_session(
    request: HttpRequest, subscriber: Subscriber, data: dict[str, Any]
) -> Answer:
    customer = customer_of(subscriber)
    if customer is None or customer.stripe_customer_id is None:
        raise NotFound(
            _("There is no billing account yet: buy a plan or tokens first."), code="no_customer"
        )
    url = portal.portal_url(
        customer.stripe_customer_id, return_url=data["return_url"], flow=data["flow"]
    )
    return 200, {"url": url}


def _subscription_answer(subscriber: Subscriber, row: Subscription) -> Answer:
    row = Subscription.objects.select_related("product", "price").get(pk=row.pk)
    return 200, {
        **_subscription_json(row),
        "token_balance": tokens.balance(subscriber),
        "currency": row.price.currency if row.price else billing_settings.CURRENCY,
    }


@endpoint(methods=["POST"], statuses=[200, 404, 502], input_form=CancelSubscriptionInput)
def cancel_subscription(
    request: HttpRequest, subscriber: Subscriber, data: dict[str, Any]
) -> Answer:
    row = subscriptions.cancel(subscriber, immediately=data["immediately"])
    return _subscription_answer(subscriber, row)


@endpoint(methods=["POST"], statuses=[200, 404, 409, 502], input_form=NoInput)
def resume_subscription(
    request: HttpRequest, subscriber: Subscriber, data: dict[str, Any]
) -> Answer:
    row = subscriptions.resume(subscriber)
    return _subscription_answer(subscriber, row)


@endpoint(methods=["POST"], statuses=[200, 404, 409, 502], input_form=ChangeSubscriptionInput)
def change_subscription(
    request: HttpRequest, subscriber: Subscriber, data: dict[str, Any]
) -> Answer:
    row = subscriptions.change_plan(subscriber, plan_id=data["plan_id"])
    return _subscription_answer(subscriber, row)


def _page(data: dict[str, Any], queryset: QuerySet[Any]) -> tuple[list[Any], dict[str, Any]]:
    page, size = data["page"], data["page_size"]
    start = (page - 1) * size
    rows = list(queryset[start : start + size + 1])
    has_next = len(rows) > size
    return rows[:size], {
        "page": page,
        "page_size": size,
        "next_page": page + 1 if has_next else None,
        "previous_page": page - 1 if page > 1 else None,
    }


@endpoint(methods=["GET"], statuses=[200], input_form=PageInput)
def token_transactions(
    request: HttpRequest, subscriber: Subscriber, data: dict[str, Any]
) -> Answer:
    rows, meta = _page(
        data,
        TokenEntry.objects.filter(account__subscriber=as_foreign_key(subscriber)).order_by(
            "-created", "-pk"
        ),
    )
    return 200, {
        **meta,
        "results": [
            {
                "id": entry.pk,
                "kind": entry.kind,
                "amount": entry.amount,
                "balance_after": entry.balance_after,
                "description": entry.description,
                "reference": entry.reference,
                "expires_at": entry.expires_at.isoformat() if entry.expires_at else None,
                "created": entry.created.isoformat(),
            }
            for entry in rows
        ],
    }


@endpoint(methods=["GET"], statuses=[200], input_form=PageInput)
def payments(request: HttpRequest, subscriber: Subscriber, data: dict[str, Any]) -> Answer:
    rows, meta = _page(
        data,
        Payment.objects.filter(subscriber=as_foreign_key(subscriber)).order_by("-created", "-pk"),
    )
    return 200, {**meta, "results": [_payment_json(p) for p in rows]}


OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def openapi(request: HttpRequest) -> HttpResponse:
    """The OpenAPI 3 document of this API."""
    return HttpResponse(OPENAPI_PATH.read_bytes(), content_type="application/json")
