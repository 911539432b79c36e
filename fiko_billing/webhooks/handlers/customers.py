"""``customer.deleted``: unlink the Stripe customer, keep the history."""

from __future__ import annotations

import logging

from django.utils import timezone

from fiko_billing import stripe_shapes as shapes
from fiko_billing.models import Customer, WebhookEvent

logger = logging.getLogger("fiko_billing.webhooks")


def customer_deleted(customer: shapes.Customer, event: WebhookEvent) -> None:
    unlinked = Customer.objects.filter(stripe_customer_id=customer["id"]).update(
        stripe_customer_id=None, deleted_at=timezone.now(), modified=timezone.now()
    )
    if unlinked:
        logger.info("stripe customer %s deleted in Stripe; unlinked", customer["id"])
