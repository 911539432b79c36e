"""``charge.*``, ``refund.*`` and ``charge.dispute.*``: charges, refunds and disputes."""

from __future__ import annotations

from typing import Any

from fiko_billing.models import WebhookEvent
from fiko_billing.services.payments import record_charge, record_dispute, record_refund


def charge_changed(charge: dict[str, Any], event: WebhookEvent) -> None:
    # Which PaymentIntent a charge belongs to. The tokens a refund takes back
    # follow the refund objects (refund.*), each keyed by its own id.
    record_charge(charge)


def refund_changed(refund: dict[str, Any], event: WebhookEvent) -> None:
    record_refund(refund)


def dispute_changed(dispute: dict[str, Any], event: WebhookEvent) -> None:
    record_dispute(dispute, event_type=event.type, at=event.stripe_created)
