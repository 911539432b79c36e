"""The shapes of the Stripe objects the package reads, for type checking only.

Stripe objects reach the code as plain dicts (webhook payloads, the gateway's
answers). These ``TypedDict``\\ s name the fields the code reads, with the
types the installed ``stripe`` SDK's resource classes give them at the pinned
API version (``stripe.Invoice``, ``stripe.checkout.Session``...): a field the
SDK marks ``Optional`` is ``| None`` here, an expandable field is its id or
the expanded object. All are ``total=False``: a payload may omit a field (an
older API version, an object seen before it was completed), so the code reads
them with ``.get()``. Nothing here runs: the dicts are not checked against it.

The tests check the other way round that every field the code reads is one
Stripe sends (``tests/stripe_reads.py`` and the conformance checks).
"""

from __future__ import annotations

from typing import Any, TypedDict

#: Any Stripe object, when its type is only known at run time.
StripeObject = dict[str, Any]


class ListOf(TypedDict, total=False):
    """A list object (``{"object": "list", "data": [...]}``) of untyped items."""

    object: str
    data: list[StripeObject]
    has_more: bool
    url: str


class EventData(TypedDict, total=False):
    object: StripeObject
    previous_attributes: StripeObject | None


class Event(TypedDict, total=False):
    id: str
    object: str
    type: str
    created: int
    api_version: str | None
    livemode: bool
    data: EventData


class Customer(TypedDict, total=False):
    id: str
    object: str
    livemode: bool
    deleted: bool
    email: str | None
    name: str | None
    metadata: dict[str, str] | None


class Recurring(TypedDict, total=False):
    interval: str
    interval_count: int
    usage_type: str


class Product(TypedDict, total=False):
    id: str
    object: str
    name: str
    description: str | None
    active: bool
    updated: int
    livemode: bool
    metadata: dict[str, str]


class Price(TypedDict, total=False):
    id: str
    object: str
    product: str | Product
    active: bool
    currency: str
    unit_amount: int | None
    lookup_key: str | None
    recurring: Recurring | None
    type: str
    livemode: bool
    metadata: dict[str, str]


class SubscriptionItem(TypedDict, total=False):
    id: str
    object: str
    quantity: int | None
    current_period_start: int
    current_period_end: int
    price: Price


class SubscriptionItems(TypedDict, total=False):
    object: str
    data: list[SubscriptionItem]
    has_more: bool


class Subscription(TypedDict, total=False):
    id: str
    object: str
    created: int
    status: str
    customer: str | Customer
    metadata: dict[str, str]
    livemode: bool
    cancel_at_period_end: bool
    cancel_at: int | None
    canceled_at: int | None
    ended_at: int | None
    trial_end: int | None
    items: SubscriptionItems
    latest_invoice: str | Invoice | None
    # On the subscription before 2025-03-31.basil; read as a fallback only.
    current_period_start: int
    current_period_end: int


class SubscriptionDetails(TypedDict, total=False):
    subscription: str | Subscription
    metadata: dict[str, str] | None


class InvoiceParent(TypedDict, total=False):
    type: str
    subscription_details: SubscriptionDetails | None


class LinePeriod(TypedDict, total=False):
    start: int
    end: int


class PriceDetails(TypedDict, total=False):
    price: str | Price
    product: str


class LinePricing(TypedDict, total=False):
    type: str
    price_details: PriceDetails | None


class LineParentDetails(TypedDict, total=False):
    proration: bool
    subscription: str | None
    subscription_item: str | None
    invoice_item: str | None


class LineParent(TypedDict, total=False):
    type: str
    subscription_item_details: LineParentDetails | None
    invoice_item_details: LineParentDetails | None


class InvoiceLine(TypedDict, total=False):
    id: str
    object: str
    amount: int
    description: str | None
    quantity: int | None
    period: LinePeriod
    pricing: LinePricing | None
    parent: LineParent | None
    metadata: dict[str, str]
    # Removed in 2025-03-31.basil (now ``pricing`` and ``parent``); fallbacks only.
    price: str | Price | None
    type: str
    proration: bool


class InvoiceLines(TypedDict, total=False):
    object: str
    data: list[InvoiceLine]
    has_more: bool


class DiscountAmount(TypedDict, total=False):
    amount: int
    discount: str | StripeObject


class InvoicePaymentDetails(TypedDict, total=False):
    type: str
    charge: str | Charge | None
    payment_intent: str | PaymentIntent | None


class InvoicePayment(TypedDict, total=False):
    id: str
    object: str
    currency: str
    invoice: str | Invoice
    payment: InvoicePaymentDetails
    amount_paid: int | None
    status: str
    is_default: bool


class InvoicePayments(TypedDict, total=False):
    object: str
    data: list[InvoicePayment]
    has_more: bool


class Invoice(TypedDict, total=False):
    id: str
    object: str
    billing_reason: str | None
    customer: str | Customer | None
    currency: str
    livemode: bool
    status: str | None
    created: int
    amount_due: int
    amount_paid: int
    total: int
    total_discount_amounts: list[DiscountAmount] | None
    hosted_invoice_url: str | None
    parent: InvoiceParent | None
    lines: InvoiceLines
    metadata: dict[str, str] | None
    # Includable: only when a request expands it, never in a webhook.
    payments: InvoicePayments | None
    # Removed in 2025-03-31.basil (now under ``parent`` and ``payments``); fallbacks only.
    subscription: str | Subscription | None
    payment_intent: str | PaymentIntent | None


class TotalDetails(TypedDict, total=False):
    amount_discount: int
    amount_shipping: int | None
    amount_tax: int


class CheckoutSession(TypedDict, total=False):
    id: str
    object: str
    url: str | None
    livemode: bool
    status: str | None
    expires_at: int
    payment_status: str
    mode: str
    customer: str | Customer | None
    client_reference_id: str | None
    metadata: dict[str, str] | None
    amount_total: int | None
    currency: str | None
    payment_intent: str | PaymentIntent | None
    invoice: str | Invoice | None
    subscription: str | Subscription | None
    total_details: TotalDetails | None


class PaymentIntent(TypedDict, total=False):
    id: str
    object: str
    amount: int
    currency: str
    status: str
    customer: str | Customer | None
    latest_charge: str | Charge | None
    metadata: dict[str, str]


class Charge(TypedDict, total=False):
    id: str
    object: str
    status: str
    amount: int
    amount_refunded: int
    refunded: bool
    currency: str
    customer: str | Customer | None
    payment_intent: str | PaymentIntent | None
    metadata: dict[str, str]


class Refund(TypedDict, total=False):
    id: str
    object: str
    created: int
    amount: int
    currency: str
    status: str | None
    charge: str | Charge | None
    payment_intent: str | PaymentIntent | None
    metadata: dict[str, str] | None


class Dispute(TypedDict, total=False):
    id: str
    object: str
    amount: int
    status: str
    reason: str
    charge: str | Charge
    payment_intent: str | PaymentIntent | None


class WebhookEndpoint(TypedDict, total=False):
    id: str
    object: str
    url: str
    enabled_events: list[str]
    status: str
    api_version: str | None
    # Only in the answer that creates the endpoint.
    secret: str | None
    livemode: bool
