"""The local mirror of Stripe subscriptions, and the changes a subscriber asks for."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from fiko_billing import signals
from fiko_billing.conf import billing_settings
from fiko_billing.exceptions import Conflict, NotFound, ServiceUnavailable
from fiko_billing.gateway import StripeGateway, new_idempotency_key
from fiko_billing.models import (
    ENTITLED_STATUSES,
    TERMINAL_STATUSES,
    Customer,
    Plan,
    Price,
    Subscription,
    SubscriptionStatus,
    TokenPackage,
)
from fiko_billing.services.catalogue_lookup import item_for, subscriber_for
from fiko_billing.services.checkout import not_synced_message
from fiko_billing.services.stripe_data import (
    first_item,
    metadata,
    object_id,
    state_time,
    subscription_period,
    ts,
)
from fiko_billing.subscribers import ensure_subscriber

logger = logging.getLogger("fiko_billing.subscriptions")

# Where a status sits in a subscription's life; used only to order two states
# that Stripe stamped with the same second.
_LIFECYCLE_RANK: dict[str, int] = {
    SubscriptionStatus.INCOMPLETE: 0,
    SubscriptionStatus.TRIALING: 1,
    SubscriptionStatus.ACTIVE: 2,
    SubscriptionStatus.PAST_DUE: 3,
    SubscriptionStatus.PAUSED: 3,
    SubscriptionStatus.UNPAID: 4,
    SubscriptionStatus.CANCELED: 5,
    SubscriptionStatus.INCOMPLETE_EXPIRED: 5,
}

MIRRORED_FIELDS = (
    "status",
    "plan_id",
    "package_id",
    "price_id",
    "quantity",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "cancel_at",
    "canceled_at",
    "ended_at",
    "trial_end",
    "customer_id",
    "livemode",
)


def _is_stale(row: Subscription, status: str, state_at: datetime | None) -> bool:
    """Whether Stripe state stamped ``state_at`` is older than what ``row`` reflects."""
    if row.status in TERMINAL_STATUSES and status not in TERMINAL_STATUSES:
        return True  # Stripe never revives an ended subscription
    if state_at is None or row.stripe_state_at is None:
        return False
    if state_at != row.stripe_state_at:
        return state_at < row.stripe_state_at
    return _LIFECYCLE_RANK.get(status, 0) < _LIFECYCLE_RANK.get(row.status, 0)


def _desired(data: dict[str, Any], row: Subscription | None) -> dict[str, Any]:
    item = first_item(data) or {}
    price_data = item.get("price") or {}
    item_obj, price = item_for(
        price_id=object_id(price_data),
        product_id=object_id(price_data.get("product")) if isinstance(price_data, dict) else None,
        metadata=metadata(data),
    )
    start, end = subscription_period(data)
    customer = Customer.objects.filter(stripe_customer_id=object_id(data.get("customer"))).first()
    return {
        "status": data.get("status") or SubscriptionStatus.INCOMPLETE,
        "plan_id": item_obj.pk if isinstance(item_obj, Plan) else None,
        "package_id": item_obj.pk if isinstance(item_obj, TokenPackage) else None,
        "price_id": price.pk if price is not None else (row.price_id if row else None),
        "quantity": int(item.get("quantity") or 1),
        "current_period_start": start,
        "current_period_end": end,
        "cancel_at_period_end": bool(data.get("cancel_at_period_end")),
        "cancel_at": ts(data.get("cancel_at")),
        "canceled_at": ts(data.get("canceled_at")),
        "ended_at": ts(data.get("ended_at")),
        "trial_end": ts(data.get("trial_end")),
        "customer_id": customer.pk if customer else (row.customer_id if row else None),
        "livemode": bool(data.get("livemode", False)),
    }


def mirror_subscription(
    data: dict[str, Any], *, state_at: datetime | None, subscriber: Any = None
) -> Subscription | None:
    """Bring the local row of a Stripe subscription up to ``data``.

    ``state_at`` is when Stripe produced ``data`` (an event's ``created``, or
    now for an API answer); older state never overwrites newer. Returns the
    row, or ``None`` when the subscription belongs to no known subscriber.
    Must run inside a transaction (it locks the row).
    """
    if subscriber is not None:
        ensure_subscriber(subscriber)
    stripe_id = str(data["id"])
    row = Subscription.objects.select_for_update().filter(stripe_subscription_id=stripe_id).first()
    if row is not None and _is_stale(row, str(data.get("status")), state_at):
        logger.info("subscription %s: ignoring state older than what is stored", stripe_id)
        return row
    desired = _desired(data, row)
    if row is None:
        subscriber = subscriber or subscriber_for(
            customer_id=object_id(data.get("customer")), metadata=metadata(data)
        )
        if subscriber is None:
            logger.warning("subscription %s belongs to no known subscriber; skipped", stripe_id)
            return None
        try:
            with transaction.atomic():
                row = Subscription.objects.create(
                    subscriber=subscriber,
                    stripe_subscription_id=stripe_id,
                    stripe_state_at=state_at,
                    **desired,
                )
        except IntegrityError:
            # Created by a concurrent delivery; apply ours on top under the lock.
            return mirror_subscription(data, state_at=state_at, subscriber=subscriber)
        _announce(row, before=None, changed=set(desired))
        return row
    before = {name: getattr(row, name) for name in MIRRORED_FIELDS}
    changed = {name for name, value in desired.items() if before[name] != value}
    for name in changed:
        setattr(row, name, desired[name])
    if state_at is not None and (row.stripe_state_at is None or state_at > row.stripe_state_at):
        row.stripe_state_at = state_at
        changed_fields = [*changed, "stripe_state_at"]
    else:
        changed_fields = list(changed)
    if changed_fields:
        row.save(update_fields=[*changed_fields, "modified"])
    if changed:
        _announce(row, before=before, changed=changed)
    return row


def _announce(row: Subscription, *, before: dict[str, Any] | None, changed: set[str]) -> None:
    was_entitled = before is not None and before["status"] in ENTITLED_STATUSES
    subscriber = row.subscriber
    if row.is_entitled and not was_entitled:
        signals.send_on_commit(
            signals.subscription_activated, Subscription, subscriber=subscriber, subscription=row
        )
    elif was_entitled and not row.is_entitled:
        signals.send_on_commit(
            signals.subscription_deactivated,
            Subscription,
            subscriber=subscriber,
            subscription=row,
            reason=row.status,
        )
    if row.cancel_at_period_end and (before is None or not before["cancel_at_period_end"]):
        signals.send_on_commit(
            signals.subscription_cancellation_scheduled,
            Subscription,
            subscriber=subscriber,
            subscription=row,
            cancel_at=row.cancel_at or row.current_period_end,
        )
    if before is not None:
        signals.send_on_commit(
            signals.subscription_updated,
            Subscription,
            subscriber=subscriber,
            subscription=row,
            changed=changed,
        )
    logger.info(
        "subscription %s of subscriber %s: %s (%s)",
        row.stripe_subscription_id,
        row.subscriber_id,
        row.status,
        ", ".join(sorted(changed)),
    )


# ---------------------------------------------------------------------- subscriber actions


def current_subscription(subscriber: Any) -> Subscription | None:
    """The subscriber's plan subscription that still grants benefits, newest first."""
    ensure_subscriber(subscriber)
    return (
        Subscription.objects.entitled()
        .filter(subscriber=subscriber, plan__isnull=False)
        .select_related("plan", "price")
        .order_by("-current_period_end", "-pk")
        .first()
    )


def _require_current(subscriber: Any) -> Subscription:
    row = current_subscription(subscriber)
    if row is None:
        raise NotFound(_("You have no active subscription."), code="no_subscription")
    return row


def _apply(answer: dict[str, Any]) -> Subscription:
    with transaction.atomic():
        row = mirror_subscription(answer, state_at=state_time())
    assert row is not None  # noqa: S101 - the row existed before the call
    return row


def cancel(subscriber: Any, *, immediately: bool, gateway: StripeGateway) -> Subscription:
    """Cancel at the period's end (default), or at once."""
    row = _require_current(subscriber)
    if immediately:
        answer = gateway.cancel_subscription(row.stripe_subscription_id)
    else:
        answer = gateway.update_subscription(
            row.stripe_subscription_id,
            {"cancel_at_period_end": True},
            idempotency_key=new_idempotency_key("cancel"),
        )
    return _apply(answer)


def resume(subscriber: Any, *, gateway: StripeGateway) -> Subscription:
    """Undo a cancellation scheduled for the period's end."""
    row = _require_current(subscriber)
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


def change_plan(subscriber: Any, *, plan_id: int, gateway: StripeGateway) -> Subscription:
    """Switch to another plan in the same currency, prorated per ``PRORATION_BEHAVIOR``."""
    row = _require_current(subscriber)
    plan = Plan.objects.filter(pk=plan_id, active=True).first()
    if plan is None:
        raise NotFound(
            _("No active plan with id %(id)d.") % {"id": plan_id}, code="plan_not_found"
        )
    if plan.pk == row.plan_id:
        raise Conflict(_("You are already on %(plan)s.") % {"plan": plan.name}, code="same_plan")
    currency = row.price.currency if row.price else billing_settings.CURRENCY
    price = Price.objects.filter(plan=plan, currency=currency, active=True).first()
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
    current = gateway.retrieve_subscription(row.stripe_subscription_id)
    item = first_item(current)
    if item is None:
        raise Conflict(_("The subscription has no item to change."), code="no_subscription_item")
    answer = gateway.update_subscription(
        row.stripe_subscription_id,
        {
            "items": [{"id": item["id"], "price": price.stripe_price_id}],
            "proration_behavior": billing_settings.PRORATION_BEHAVIOR,
            "metadata": {"fiko_item": f"plan:{plan.pk}", "fiko_price": str(price.pk)},
        },
        idempotency_key=new_idempotency_key("change"),
    )
    return _apply(answer)
