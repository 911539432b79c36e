"""What deleting a subscriber does to its billing rows.

Accounting rows outlive the subscriber: payments, token ledgers, Stripe
customers and ended subscriptions are kept with the subscriber set to NULL
(``models.SET_NULL``), because tax and audit rules need them. A subscription
still live in Stripe would go on charging a customer nobody owns, so it
blocks the deletion until ``fiko_billing.services.erasure.erase_subscriber``
(or the admin's "Erase billing data") has cancelled it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import models
from django.db.models.deletion import Collector, ProtectedError


def keep_unless_live(
    collector: Collector, field: models.Field[Any, Any], sub_objs: Sequence[Any], using: str
) -> None:
    """``on_delete`` of ``Subscription.subscriber``: refuse while live, else ``SET_NULL``."""
    from fiko_billing.models.subscriptions import TERMINAL_STATUSES

    live = [row for row in sub_objs if row.status not in TERMINAL_STATUSES]
    if live:
        # Django's collector replaces this message by one naming the field;
        # the admin's delete page lists the live subscriptions themselves.
        ids = ", ".join(row.stripe_subscription_id for row in live)
        raise ProtectedError(
            f"Cannot delete this subscriber: its Stripe subscription {ids} is still live. "
            "Erase its billing data first (fiko_billing.services.erasure.erase_subscriber).",
            set(live),
        )
    models.SET_NULL(collector, field, sub_objs, using)  # type: ignore[arg-type]
