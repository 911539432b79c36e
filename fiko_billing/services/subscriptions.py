"""The changes a subscriber asks for: cancel, resume, change plan.

The mirror itself (``mirror_subscription``) lives in
``fiko_billing.services.subscription_state``, the one writer of a
subscription's state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from fiko_billing import stripe_shapes as shapes
from fiko_billing.conf import billing_settings
from fiko_billing.exceptions import Conflict, NotFound, ServiceUnavailable
from fiko_billing.gateway import StripeGateway, get_gateway, new_idempotency_key
from fiko_billing.models import Plan, Price, Subscription
from fiko_billing.services.checkout import not_synced_message
from fiko_billing.services.stripe_data import first_item, state_time
from fiko_billing.services.subscription_state import mirror_subscription
from fiko_billing.subscribers import Subscriber, as_foreign_key, ensure_subscriber
from fiko_billing.vocabulary import PLAN_KINDS, ProductKind

logger = logging.getLogger("fiko_billing.subscriptions")

__all__ = ["cancel", "change_plan", "current_subscription", "mirror_subscription", "resume"]


# ---------------------------------------------------------------------- subscriber actions


def current_subscription(subscriber: Subscriber) -> Subscription | None:
    """The subscriber's plan subscription that still grants benefits, newest first."""
    ensure_subscriber(subscriber)
    return (
        Subscription.objects.entitled()
        .filter(subscriber=as_foreign_key(subscriber), product__kind__in=PLAN_KINDS)
        .select_related("product", "price")
        .order_by("-current_period_end", "-pk")
        .first()
    )


def require_current(subscriber: Subscriber) -> Subscription:
    """The subscriber's current plan subscription, or ``404 no_subscription``."""
    row = current_subscription(subscriber)
    if row is None:
        raise NotFound(_("You have no active subscription."), code="no_subscription")
    return row


def _apply(answer: shapes.Subscription) -> Subscription:
    with transaction.atomic():
        # An API answer is the newest state as of the second it was read.
        row = mirror_subscription(answer, state_at=state_time(), role="anchor")
    assert row is not None  # noqa: S101 - the row existed before the call
    return row


def cancel(
    subscriber: Subscriber, *, immediately: bool, gateway: StripeGateway | None = None
) -> Subscription:
    """Cancel at the period's end (default), or at once."""
    gateway = gateway or get_gateway()
    row = require_current(subscriber)
    if immediately:
        answer = gateway.cancel_subscription(row.stripe_subscription_id)
    else:
        answer = gateway.update_subscription(
            row.stripe_subscription_id,
            {"cancel_at_period_end": True},
            idempotency_key=new_idempotency_key("cancel"),
        )
    return _apply(answer)


def resume(subscriber: Subscriber, *, gateway: StripeGateway | None = None) -> Subscription:
    """Undo a cancellation scheduled for the period's end."""
    gateway = gateway or get_gateway()
    row = require_current(subscriber)
    if not row.cancel_at_period_end and row.cancel_at is None:
        raise Conflict(_("Your subscription is not scheduled to cancel."), code="not_canceling")
    # A dated cancellation (Portal, dashboard) is undone by clearing its date.
    params: dict[str, Any] = (
        {"cancel_at_period_end": False} if row.cancel_at_period_end else {"cancel_at": ""}
    )
    answer = gateway.update_subscription(
        row.stripe_subscription_id, params, idempotency_key=new_idempotency_key("resume")
    )
    return _apply(answer)


def change_plan(
    subscriber: Subscriber, *, plan_id: int, gateway: StripeGateway | None = None
) -> Subscription:
    """Switch to another plan in the same currency, prorated per ``PRORATION_BEHAVIOR``."""
    gateway = gateway or get_gateway()
    switch = plan_switch(subscriber, plan_id, gateway)
    row, plan, price, item = switch.row, switch.plan, switch.price, switch.item
    answer = gateway.update_subscription(
        row.stripe_subscription_id,
        {
            "items": [{"id": item["id"], "price": price.stripe_price_id}],
            "proration_behavior": billing_settings.PRORATION_BEHAVIOR,
            "metadata": {**plan.metadata, "fiko_price": str(price.pk)},
        },
        idempotency_key=new_idempotency_key("change"),
    )
    return _apply(answer)


@dataclass(frozen=True)
class PlanSwitch:
    """A switch the subscriber may make: their subscription, the new plan and price,
    and the subscription item (as Stripe has it now) whose price changes."""

    row: Subscription
    plan: Plan
    price: Price
    item: shapes.SubscriptionItem
    current: shapes.Subscription


def plan_switch(subscriber: Subscriber, plan_id: int, gateway: StripeGateway) -> PlanSwitch:
    """Check the switch to ``plan_id`` and read the subscription's item from Stripe."""
    row = require_current(subscriber)
    plan, price = target_price(row, plan_id)
    current = gateway.retrieve_subscription(row.stripe_subscription_id)
    item = first_item(current)
    if item is None:
        raise Conflict(_("The subscription has no item to change."), code="no_subscription_item")
    return PlanSwitch(row=row, plan=plan, price=price, item=item, current=current)


def target_price(row: Subscription, plan_id: int) -> tuple[Plan, Price]:
    """The plan a subscription may switch to, and its price in the subscription's currency."""
    plan = Plan.objects.filter(pk=plan_id, active=True).first()
    if plan is None:
        raise NotFound(
            str(ProductKind.FULL.rules.not_found) % {"id": plan_id}, code="plan_not_found"
        )
    if plan.pk == row.product_id:
        raise Conflict(_("You are already on %(plan)s.") % {"plan": plan.name}, code="same_plan")
    currency = row.price.currency if row.price else billing_settings.CURRENCY
    price = Price.objects.filter(product=plan, currency=currency, active=True).first()
    if price is None:
        raise Conflict(
            _("%(plan)s is not available in %(currency)s.")
            % {"plan": plan.name, "currency": currency.upper()},
            code="unsupported_currency",
        )
    if not price.stripe_price_id:
        raise ServiceUnavailable(
            not_synced_message(plan.name, currency), code="catalogue_not_synced"
        )
    return plan, price
