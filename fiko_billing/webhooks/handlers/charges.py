"""``charge.*``, ``refund.*`` and ``charge.dispute.*``: charges, refunds and disputes."""

from __future__ import annotations

from fiko_billing import stripe_shapes as shapes
from fiko_billing.models import WebhookEvent
from fiko_billing.services.payments import record_charge, record_dispute, record_refund


def charge_changed(charge: shapes.Charge, event: WebhookEvent) -> None:
    # Which PaymentIntent a charge belongs to. The tokens a refund takes back
    # follow the refund objects (refund.*), each keyed by its own id.
    record_charge(charge)


def refund_changed(refund: shapes.Refund, event: WebhookEvent) -> None:
    record_refund(refund)


def dispute_changed(dispute: shapes.Dispute, event: WebhookEvent) -> None:
    record_dispute(dispute, event_type=event.type, at=event.stripe_created)
