"""``POST subscription/change/preview/``: what a plan switch would cost, before it is made.

Kept beside ``views`` (same decorator, same error shape) so the subscription
endpoints there stay short; the amounts are Stripe's invoice preview of the
change, priced from our catalogue, never from the client.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from fiko_billing.api import endpoint
from fiko_billing.gateway import get_gateway
from fiko_billing.inputs import ChangeSubscriptionInput
from fiko_billing.money import format_amount
from fiko_billing.services.plan_change_preview import preview_plan_change
from fiko_billing.subscribers import Subscriber

Answer = tuple[int, dict[str, Any]]


@endpoint(methods=["POST"], statuses=[200, 404, 409, 502], input_form=ChangeSubscriptionInput)
def preview_plan_change_view(
    request: HttpRequest, subscriber: Subscriber, data: dict[str, Any]
) -> Answer:
    preview = preview_plan_change(subscriber, plan_id=data["plan_id"], gateway=get_gateway())
    currency = preview.currency
    return 200, {
        "plan": {
            "id": preview.plan.pk,
            "name": preview.plan.name,
            "interval": preview.plan.interval,
        },
        "currency": currency,
        "amount_due": preview.amount_due,
        "display": format_amount(preview.amount_due, currency),
        "total": preview.total,
        "due_now": preview.due_now,
        "due_at": preview.due_at.isoformat() if preview.due_at else None,
        "lines": [
            {
                "description": line.description,
                "amount": line.amount,
                "display": format_amount(line.amount, currency),
            }
            for line in preview.lines
        ],
    }
