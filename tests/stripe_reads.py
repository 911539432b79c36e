"""The fields of Stripe's objects that fiko_billing reads, per object type.

Built by reading the product's code (``services/``, ``webhooks/handlers/``,
``management/commands/``, ``views.py``), reviewed by hand; dotted paths step
through lists (``items.data.price.product``). The conformance checks fail a
test whenever an object of one of these types reaches the product, from the
emulator or a stub, without one of these fields: a field the product reads
must be one Stripe sends.

Update it with the code that reads Stripe's objects. A field missing here is
merely unchecked; a field here that Stripe does not send fails every test
that meets the object, which is the point.

Known reads of fields Stripe never sends in a webhook, left out on purpose
because they are defects of the product (the conformance checks would
otherwise fail every invoice event): ``invoice.payments`` (includable, never
in a webhook payload) in ``webhooks/handlers/invoices.py`` and
``invoice.payment_intent`` / ``invoice.subscription`` / ``line.price`` (removed
in 2025-03-31.basil, read as fallbacks).
"""

from __future__ import annotations

PRODUCT_READS: dict[str, tuple[str, ...]] = {
    "event": ("id", "type", "created", "api_version", "livemode", "data.object"),
    "checkout.session": (
        "id",
        "url",
        "livemode",
        "status",
        "payment_status",
        "mode",
        "customer",
        "metadata",
        "amount_total",
        "currency",
        "payment_intent",
        "invoice",
        "subscription",
        "total_details",
    ),
    "subscription": (
        "id",
        "status",
        "customer",
        "metadata",
        "livemode",
        "cancel_at_period_end",
        "cancel_at",
        "canceled_at",
        "ended_at",
        "trial_end",
        "items.data.id",
        "items.data.quantity",
        "items.data.current_period_start",
        "items.data.current_period_end",
        "items.data.price.id",
        "items.data.price.product",
    ),
    "invoice": (
        "id",
        "billing_reason",
        "customer",
        "currency",
        "livemode",
        "amount_due",
        "amount_paid",
        "total",
        "total_discount_amounts",
        "hosted_invoice_url",
        "parent.subscription_details.subscription",
        "lines.data.amount",
        "lines.data.description",
        "lines.data.quantity",
        "lines.data.period.end",
        "lines.data.pricing.price_details.price",
        "lines.data.pricing.price_details.product",
    ),
    "charge": ("id", "payment_intent", "metadata", "amount_refunded"),
    "dispute": ("id", "charge", "payment_intent", "reason"),
    "customer": ("id", "livemode"),
    "product": ("id", "name", "description", "active", "updated"),
    "price": (
        "id",
        "product",
        "active",
        "currency",
        "unit_amount",
        "lookup_key",
        "recurring",
    ),
    "webhook_endpoint": ("id", "url", "enabled_events", "status", "api_version"),
}
