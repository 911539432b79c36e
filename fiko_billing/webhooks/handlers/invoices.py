"""``invoice.*`` and ``invoice_payment.paid``: each invoice's payment, its tokens, dunning."""

from __future__ import annotations

from fiko_billing import stripe_shapes as shapes
from fiko_billing.models import WebhookEvent
from fiko_billing.services.payments import (
    InvoiceOutcome,
    record_invoice,
    record_invoice_payment,
)


def invoice_paid(invoice: shapes.Invoice, event: WebhookEvent) -> None:
    record_invoice(invoice, outcome=InvoiceOutcome.PAID, at=event.stripe_created)


def invoice_payment_failed(invoice: shapes.Invoice, event: WebhookEvent) -> None:
    record_invoice(invoice, outcome=InvoiceOutcome.FAILED, at=event.stripe_created)


def invoice_action_required(invoice: shapes.Invoice, event: WebhookEvent) -> None:
    record_invoice(invoice, outcome=InvoiceOutcome.ACTION_REQUIRED, at=event.stripe_created)


def invoice_payment_paid(invoice_payment: shapes.InvoicePayment, event: WebhookEvent) -> None:
    record_invoice_payment(invoice_payment)
