"""What a plan switch would cost, asked of Stripe before the subscriber confirms it.

Stripe's invoice preview (``create_preview``) prices the change exactly as
``subscriptions.change_plan`` will make it: the same item, the new plan's
price in the subscription's currency from our catalogue, the same
``PRORATION_BEHAVIOR``. Whether the amount is charged at the switch or on
the next invoice follows from the same rules Stripe bills by: at once with
``always_invoice``, or when the new plan bills another interval (the billing
cycle restarts); otherwise at the end of the current period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from fiko_billing.conf import billing_settings
from fiko_billing.gateway import StripeGateway, new_idempotency_key
from fiko_billing.models import Plan, Price
from fiko_billing.services.stripe_data import object_id
from fiko_billing.services.subscriptions import plan_switch
from fiko_billing.subscribers import Subscriber


@dataclass(frozen=True)
class PreviewLine:
    description: str
    amount: int


@dataclass(frozen=True)
class PlanChangePreview:
    """Stripe's answer, in minor units of ``currency``."""

    plan: Plan
    price: Price
    currency: str
    #: What the invoice asks the card for; never below 0 (a credit goes to the balance).
    amount_due: int
    #: The invoice's total: negative when the switch leaves a credit.
    total: int
    #: Charged at the switch (True) or with the next invoice, at ``due_at``.
    due_now: bool
    due_at: datetime | None
    lines: list[PreviewLine]


def preview_plan_change(
    subscriber: Subscriber, *, plan_id: int, gateway: StripeGateway
) -> PlanChangePreview:
    """Stripe's preview of switching the subscriber's plan to ``plan_id``; nothing changes."""
    switch = plan_switch(subscriber, plan_id, gateway)
    row, plan, price, item, current = (
        switch.row,
        switch.plan,
        switch.price,
        switch.item,
        switch.current,
    )
    behavior = billing_settings.PRORATION_BEHAVIOR
    invoice = gateway.preview_invoice(
        {
            "customer": object_id(current.get("customer")),
            "subscription": row.stripe_subscription_id,
            "subscription_details": {
                "items": [{"id": item["id"], "price": price.stripe_price_id}],
                "proration_behavior": behavior,
            },
        },
        idempotency_key=new_idempotency_key("preview"),
    )
    new_cycle = row.plan is None or row.plan.interval != plan.interval
    due_now = behavior == "always_invoice" or new_cycle
    return PlanChangePreview(
        plan=plan,
        price=price,
        currency=str(invoice.get("currency") or price.currency),
        amount_due=int(invoice.get("amount_due") or 0),
        total=int(invoice.get("total") or 0),
        due_now=due_now,
        due_at=timezone.now() if due_now else row.current_period_end,
        lines=[
            PreviewLine(str(line.get("description") or ""), int(line.get("amount") or 0))
            for line in (invoice.get("lines") or {}).get("data") or []
        ],
    )
