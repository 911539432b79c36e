"""fiko_billing.stripe_shapes names only fields the installed stripe SDK declares."""

from __future__ import annotations

import typing

import pytest
import stripe
import stripe.checkout

from fiko_billing import stripe_shapes as shapes

#: Each shape and the SDK class it follows.
SDK_CLASSES: dict[type, type] = {
    shapes.Event: stripe.Event,
    shapes.EventData: stripe.Event.Data,
    shapes.Customer: stripe.Customer,
    shapes.Product: stripe.Product,
    shapes.Price: stripe.Price,
    shapes.Recurring: stripe.Price.Recurring,
    shapes.SubscriptionItem: stripe.SubscriptionItem,
    shapes.Subscription: stripe.Subscription,
    shapes.SubscriptionDetails: stripe.Invoice.Parent.SubscriptionDetails,
    shapes.InvoiceParent: stripe.Invoice.Parent,
    shapes.LinePeriod: stripe.InvoiceLineItem.Period,
    shapes.PriceDetails: stripe.InvoiceLineItem.Pricing.PriceDetails,
    shapes.LinePricing: stripe.InvoiceLineItem.Pricing,
    shapes.LineParent: stripe.InvoiceLineItem.Parent,
    shapes.LineParentDetails: stripe.InvoiceLineItem.Parent.SubscriptionItemDetails,
    shapes.InvoiceLine: stripe.InvoiceLineItem,
    shapes.DiscountAmount: stripe.Invoice.TotalDiscountAmount,
    shapes.InvoicePaymentDetails: stripe.InvoicePayment.Payment,
    shapes.InvoicePayment: stripe.InvoicePayment,
    shapes.Invoice: stripe.Invoice,
    shapes.TotalDetails: stripe.checkout.Session.TotalDetails,
    shapes.CheckoutSession: stripe.checkout.Session,
    shapes.PaymentIntent: stripe.PaymentIntent,
    shapes.Charge: stripe.Charge,
    shapes.Refund: stripe.Refund,
    shapes.Dispute: stripe.Dispute,
    shapes.WebhookEndpoint: stripe.WebhookEndpoint,
}

#: Fields Stripe removed in 2025-03-31.basil, read as fallbacks for older payloads.
NOT_IN_SDK: dict[type, set[str]] = {
    shapes.Subscription: {"current_period_start", "current_period_end"},
    shapes.InvoiceLine: {"price", "type", "proration"},
    shapes.Invoice: {"subscription", "payment_intent"},
}


def _sdk_fields(cls: type) -> set[str]:
    fields: set[str] = set()
    for klass in cls.__mro__:
        fields.update(getattr(klass, "__annotations__", {}))
    return fields


def test_every_shape_of_the_module_is_checked() -> None:
    defined = {
        value
        for value in vars(shapes).values()
        if typing.is_typeddict(value) and value.__module__ == shapes.__name__
    }
    assert defined - {
        shapes.ListOf,
        shapes.SubscriptionItems,
        shapes.InvoiceLines,
        shapes.InvoicePayments,
    } == set(SDK_CLASSES)


@pytest.mark.parametrize("shape", list(SDK_CLASSES), ids=lambda s: s.__name__)
def test_shape_fields_are_sdk_fields(shape: type) -> None:
    sdk = _sdk_fields(SDK_CLASSES[shape])
    unknown = set(shape.__annotations__) - sdk - NOT_IN_SDK.get(shape, set())
    assert not unknown, f"{shape.__name__}: not fields of {SDK_CLASSES[shape].__qualname__}"


@pytest.mark.parametrize("shape", list(SDK_CLASSES), ids=lambda s: s.__name__)
def test_shapes_are_partial(shape: type) -> None:
    """Payloads omit fields (older versions, unfinished objects): nothing is required."""
    assert not shape.__required_keys__  # type: ignore[attr-defined]
