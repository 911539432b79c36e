"""Stripe objects in the shape of the pinned API version, for stub servers and webhook tests.

Every object comes from the emulator's shape builders, the same code that
answers the emulator's API and writes its events, so a test payload cannot
drift into a shape that only our handlers expect: the conformance checks
(``fiko_billing.testing.conformance``) hold those builders to the stripe
SDK's types, and to the SDK's rules for what a webhook carries (an invoice
has no ``payments`` there). Each builder returns a plain ``dict`` as
Stripe's JSON would decode; keyword arguments override top-level fields.

The builders live in one module per kind of object (customers and the
catalogue, subscriptions, invoices, sessions, payments, and the envelopes
around them: events, lists, errors); all are importable from here.
"""

from fiko_billing.testing.payloads.base import DAY, Obj, stripe_id
from fiko_billing.testing.payloads.catalogue import customer, deleted_customer, price, product
from fiko_billing.testing.payloads.envelopes import error, event, list_of
from fiko_billing.testing.payloads.invoices import invoice, invoice_line, invoice_payment
from fiko_billing.testing.payloads.payments import charge, dispute
from fiko_billing.testing.payloads.sessions import (
    checkout_session,
    portal_session,
    webhook_endpoint,
)
from fiko_billing.testing.payloads.subscriptions import subscription, subscription_item

__all__ = [
    "DAY",
    "Obj",
    "charge",
    "checkout_session",
    "customer",
    "deleted_customer",
    "dispute",
    "error",
    "event",
    "invoice",
    "invoice_line",
    "invoice_payment",
    "list_of",
    "portal_session",
    "price",
    "product",
    "stripe_id",
    "subscription",
    "subscription_item",
    "webhook_endpoint",
]
