"""From Stripe ids and metadata back to our products and subscribers."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from fiko_billing.compiled_query import CompiledQuery, columns, instance, loaded
from fiko_billing.conf import subscriber_model_label
from fiko_billing.models import Customer, Price, Product
from fiko_billing.subscribers import Subscriber, get_subscriber_model
from fiko_billing.vocabulary import ITEM_METADATA_KEY, decode_item

# Read for every subscription and invoice event: compiled once (``compiled_query``).
# Stripe ids are unique: at most one row each.
_PRICE = CompiledQuery(
    lambda price_id: Price.objects.filter(stripe_price_id=price_id).values(
        *columns(Price), *columns(Product, "product__")
    ),
    price_id=str,
)
_CUSTOMER = CompiledQuery(
    lambda customer_id: Customer.objects.filter(stripe_customer_id=customer_id).values(
        *columns(get_subscriber_model(), "subscriber__")
    ),
    customer_id=str,
)


def item_for(
    *, price_id: str | None, product_id: str | None, metadata: dict[str, str] | None = None
) -> tuple[Product | None, Price | None]:
    """The product a Stripe price belongs to, and the price if it is ours.

    A price replaced by ``sync_stripe_products`` is no longer stored, but its
    product still is; metadata written at checkout is the last resort.
    """
    if price_id:
        row = _PRICE.first(price_id=price_id)
        if row is not None:
            price = loaded(Price, row, _PRICE.db, product=Product)
            return price.product, price
    if product_id:
        product = Product.objects.filter(stripe_product_id=product_id).first()
        if product is not None:
            return product, None
    ref = decode_item((metadata or {}).get(ITEM_METADATA_KEY))
    if ref is not None:
        return Product.objects.filter(pk=ref.pk, kind=ref.kind).first(), None
    return None, None


def subscriber_for(
    *, customer_id: str | None, metadata: dict[str, str] | None = None
) -> Subscriber | None:
    """The subscriber behind a Stripe customer id (or our metadata), or ``None``."""
    if customer_id:
        found = _CUSTOMER.first(customer_id=customer_id)
        if found is not None:
            return instance(get_subscriber_model(), found, "subscriber__", _CUSTOMER.db)
    meta = metadata or {}
    pk = meta.get("fiko_subscriber")
    if (
        pk
        and meta.get("fiko_subscriber_model", subscriber_model_label()) == subscriber_model_label()
    ):
        try:
            return get_subscriber_model()._default_manager.filter(pk=pk).first()
        except (ValueError, ValidationError):
            return None  # metadata that is not one of our primary keys
    return None
