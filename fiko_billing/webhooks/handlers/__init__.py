"""Our event handlers, one module per event family; each idempotent and order-safe.

``HANDLERS`` is the one list of what we handle: the app installs it in the
event service's registry when it is ready. A host project adds its own
handlers with ``fiko_billing.webhooks.register_handler``.
"""

from __future__ import annotations

from fiko_billing.services.events.registry import Handler
from fiko_billing.webhooks.handlers import charges, checkout, customers, invoices, subscriptions

HANDLERS: tuple[tuple[str, Handler], ...] = (
    ("checkout.session.completed", checkout.session_completed),
    ("checkout.session.async_payment_succeeded", checkout.session_completed),
    ("checkout.session.expired", checkout.session_completed),
    ("checkout.session.async_payment_failed", checkout.session_payment_failed),
    ("customer.subscription.created", subscriptions.subscription_changed),
    ("customer.subscription.updated", subscriptions.subscription_changed),
    ("customer.subscription.deleted", subscriptions.subscription_changed),
    ("customer.subscription.paused", subscriptions.subscription_changed),
    ("customer.subscription.resumed", subscriptions.subscription_changed),
    ("customer.subscription.trial_will_end", subscriptions.subscription_changed),
    ("invoice.paid", invoices.invoice_paid),
    ("invoice.payment_failed", invoices.invoice_payment_failed),
    ("invoice.payment_action_required", invoices.invoice_action_required),
    ("invoice_payment.paid", invoices.invoice_payment_paid),
    ("charge.succeeded", charges.charge_changed),
    ("charge.refunded", charges.charge_changed),
    ("refund.created", charges.refund_changed),
    ("refund.updated", charges.refund_changed),
    ("refund.failed", charges.refund_changed),
    ("charge.dispute.created", charges.dispute_changed),
    ("charge.dispute.updated", charges.dispute_changed),
    ("charge.dispute.closed", charges.dispute_changed),
    ("charge.dispute.funds_withdrawn", charges.dispute_changed),
    ("charge.dispute.funds_reinstated", charges.dispute_changed),
    ("customer.deleted", customers.customer_deleted),
)
