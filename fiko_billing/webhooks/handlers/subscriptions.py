"""``customer.subscription.*``: mirror status, plan, period and cancellation."""

from __future__ import annotations

from fiko_billing import stripe_shapes as shapes
from fiko_billing.models import WebhookEvent
from fiko_billing.services.subscription_state import mirror_subscription


def subscription_changed(subscription: shapes.Subscription, event: WebhookEvent) -> None:
    mirror_subscription(
        subscription,
        state_at=event.stripe_created,
        previous=event.payload["data"].get("previous_attributes"),
        role="first" if event.type == "customer.subscription.created" else "event",
    )
