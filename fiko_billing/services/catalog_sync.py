"""Pushing the local catalogue (plans, token packages, prices) to Stripe.

The database is the source of truth: names, amounts and what is for sale come
from our rows, and Stripe is brought in line with them. Stripe ids are stored
back on each row as soon as the object exists, so a run that fails half-way
keeps what it already did and the next run carries on from there.

A Stripe price cannot change its amount, currency or interval. When one of
those changes locally, a new price is created that takes over the lookup key
(``transfer_lookup_key``) and the old one is archived; subscriptions already on
the old price keep it until they are moved.

Every run sends new idempotency keys (the gateway's retries within a run
resend them), so a failure Stripe stored for one run is not replayed to the
next for a day. What a failed run may have created without hearing the answer
is found again instead of being created twice: a product is created under an
id of our choosing (``product_id_for``), so a second create is refused with
``resource_already_exists`` and the product is adopted; a price is found in
its product's price list by its ``fiko_price`` metadata and its terms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fiko_billing import stripe_shapes as shapes
from fiko_billing.gateway import (
    StripeGateway,
    StripeGatewayError,
    StripeInvalidRequest,
    get_gateway,
    new_idempotency_key,
)
from fiko_billing.models import Price, Product
from fiko_billing.services.catalog_sync_report import (
    Action,
    CatalogueSyncFailed,
    Change,
    SyncReport,
    describe_price,
)
from fiko_billing.services.stripe_data import metadata, object_id
from fiko_billing.vocabulary import ITEM_METADATA_KEY, ProductKind, encode_item

logger = logging.getLogger("fiko_billing.catalog_sync")

Item = Product

__all__ = [
    "Action",
    "CatalogueSyncFailed",
    "Change",
    "SyncReport",
    "describe_price",
    "item_ref",
    "lookup_key",
    "product_id_for",
    "sync_catalogue",
]

#: ``on_progress(done, total, item)`` is called after each plan or package.
ProgressCallback = Callable[[int, int, str], None]


def item_ref(item: Item) -> str:
    """``plan:<pk>`` / ``package:<pk>``, the value of ``metadata[fiko_item]``."""
    return encode_item(item.kind, item.pk)


def lookup_key(item: Item, currency: str) -> str:
    return f"fiko_{item.product_kind.rules.stripe_word}_{item.pk}_{currency}"


def product_id_for(item: Item) -> str:
    """The Stripe id a new product of ``item`` is created with.

    Fixed for the row (its creation time tells it from a row of another
    database that had the same primary key), so a create that Stripe carried
    out without our hearing it cannot be repeated: the next one is refused.
    """
    created = int(item.created.timestamp() * 1_000_000)
    return f"fiko_{item.product_kind.rules.stripe_word}_{item.pk}_{created:x}"


def _describe_stripe_price(price: shapes.Price) -> str:
    recurring = price.get("recurring") or {}
    return describe_price(
        price.get("unit_amount"), str(price.get("currency") or ""), recurring.get("interval") or ""
    )


def _items() -> list[Item]:
    # Inactive items that were never in Stripe have nothing to archive there.
    # Kinds in the order of ``ProductKind`` (plans first), each in catalogue order.
    order = {kind: rank for rank, kind in enumerate(ProductKind)}
    items = sorted(
        Product.objects.prefetch_related("prices"),
        key=lambda item: (order[item.product_kind], item.sort_order, item.pk),
    )
    return [item for item in items if item.active or item.stripe_product_id]


class _ItemSync:
    """Brings one plan or package and its prices in line with Stripe."""

    def __init__(
        self, item: Item, gateway: StripeGateway, report: SyncReport, *, dry_run: bool
    ) -> None:
        self.item = item
        self.gateway = gateway
        self.report = report
        self.dry_run = dry_run
        self.ref = item_ref(item)
        self.label = f"{item.name} ({self.ref})"
        self.interval = item.interval or ""

    def record(self, currency: str, action: Action, stripe_id: str | None, detail: str) -> None:
        self.report.changes.append(
            Change(self.label, currency.upper(), action, stripe_id or "", detail)
        )

    def run(self) -> None:
        product_id, existed = self.sync_product()
        listed: dict[str, shapes.Price] = {}
        prices = sorted(self.item.prices.all(), key=lambda p: (p.currency, p.pk))
        if existed and product_id and prices:
            # One listing instead of one GET per price; it also shows the prices
            # a failed run created without hearing the answer.
            listed = {p["id"]: p for p in self.gateway.list_prices(product_id)}
        for price in prices:
            self.sync_price(price, product_id, listed)

    # ------------------------------------------------------------------ product

    def product_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "name": self.item.name,
            "active": self.item.active,
            "metadata": self.item.metadata,
        }
        if self.item.description:
            params["description"] = self.item.description
        return params

    def product_changes(self, current: shapes.Product) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if current.get("name") != self.item.name:
            changes["name"] = self.item.name
        if (current.get("description") or "") != self.item.description:
            # An empty string clears the description in Stripe.
            changes["description"] = self.item.description
        if bool(current.get("active")) != self.item.active:
            changes["active"] = self.item.active
        if metadata(current).get(ITEM_METADATA_KEY) != self.ref:
            changes["metadata"] = self.item.metadata
        return changes

    def create_product(self) -> tuple[shapes.Product, bool]:
        """The new product, and whether an earlier run had created it already."""
        wanted_id = product_id_for(self.item)
        try:
            product = self.gateway.create_product(
                {**self.product_params(), "id": wanted_id},
                idempotency_key=new_idempotency_key("product"),
            )
        except StripeInvalidRequest as exc:
            if exc.stripe_code != "resource_already_exists":
                raise
            product = self.gateway.retrieve_product(wanted_id)
            if metadata(product).get(ITEM_METADATA_KEY) != self.ref:
                raise
            logger.info("product %s of %s, made by a failed run, adopted", wanted_id, self.label)
            adopted = True
        else:
            adopted = False
        Product.objects.filter(pk=self.item.pk).update(stripe_product_id=product["id"])
        self.item.stripe_product_id = product["id"]
        return product, adopted

    def sync_product(self) -> tuple[str | None, bool]:
        """The product's Stripe id (``None`` if a dry run would create it) and
        whether it existed before this run."""
        item = self.item
        if not item.stripe_product_id:
            if self.dry_run:
                self.record("", Action.CREATE_PRODUCT, None, "")
                return None, False
            product, adopted = self.create_product()
            changes = self.product_changes(product) if adopted else {}
            if changes:
                self.gateway.update_product(
                    product["id"], changes, idempotency_key=new_idempotency_key("product")
                )
            self.record("", Action.CREATE_PRODUCT, product["id"], "")
            return str(product["id"]), False

        product_id = item.stripe_product_id
        current = self.gateway.retrieve_product(product_id)
        changes = self.product_changes(current)
        if not changes:
            self.record("", Action.UP_TO_DATE, product_id, "")
            return product_id, True
        fields = [name for name in changes if name != "active"]
        if changes.get("active") is False:
            action = Action.ARCHIVE_PRODUCT
            detail = "item inactive" + (f"; also {', '.join(fields)}" if fields else "")
        else:
            action = Action.UPDATE_PRODUCT
            detail = ", ".join(changes)
        if not self.dry_run:
            self.gateway.update_product(
                product_id, changes, idempotency_key=new_idempotency_key("product")
            )
        self.record("", action, product_id, detail)
        return product_id, True

    # ------------------------------------------------------------------ prices

    def price_params(self, price: Price, product_id: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "product": product_id,
            "currency": price.currency,
            "unit_amount": price.unit_amount,
            "lookup_key": lookup_key(self.item, price.currency),
            "metadata": {"fiko_price": str(price.pk)},
            # A price left holding the key (a replaced one, a lost id) gives it up.
            "transfer_lookup_key": True,
        }
        if self.interval:
            params["recurring"] = {"interval": self.interval}
        return params

    def is_same_price(self, price: Price, product_id: str | None, current: shapes.Price) -> bool:
        """Whether ``current`` has what a Stripe price can never change."""
        recurring = current.get("recurring") or {}
        return (
            current.get("unit_amount") == price.unit_amount
            and current.get("currency") == price.currency
            and (recurring.get("interval") or "") == self.interval
            and (not recurring or (recurring.get("interval_count") or 1) == 1)
            and object_id(current.get("product")) == product_id
        )

    def price_changes(self, price: Price, current: shapes.Price) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if not current.get("active"):
            changes["active"] = True
        key = lookup_key(self.item, price.currency)
        if current.get("lookup_key") != key:
            changes["lookup_key"] = key
            changes["transfer_lookup_key"] = True
        if metadata(current).get("fiko_price") != str(price.pk):
            changes["metadata"] = {"fiko_price": str(price.pk)}
        return changes

    def create_price(
        self, price: Price, product_id: str, listed: dict[str, shapes.Price], replaces: str | None
    ) -> str:
        orphan = self.created_by_failed_run(price, product_id, listed, replaces)
        if orphan is not None:
            price_id = str(orphan["id"])
            logger.info("price %s of %s, created by a failed run, adopted", price_id, self.label)
            changes = self.price_changes(price, orphan)
            if changes:
                self.update_price(price_id, changes)
        else:
            params = self.price_params(price, product_id)
            created = self.gateway.create_price(
                params, idempotency_key=new_idempotency_key("price")
            )
            price_id = str(created["id"])
        Price.objects.filter(pk=price.pk).update(stripe_price_id=price_id)
        price.stripe_price_id = price_id
        return price_id

    def created_by_failed_run(
        self, price: Price, product_id: str, listed: dict[str, shapes.Price], replaces: str | None
    ) -> shapes.Price | None:
        """An active price of this row with its terms that we never recorded, if any."""
        found = [
            candidate
            for candidate in listed.values()
            if candidate["id"] != replaces
            and candidate.get("active")
            and metadata(candidate).get("fiko_price") == str(price.pk)
            and self.is_same_price(price, product_id, candidate)
        ]
        found.sort(key=lambda candidate: (candidate.get("created") or 0, candidate["id"]))
        return found[0] if found else None

    def update_price(self, price_id: str, changes: dict[str, Any]) -> None:
        self.gateway.update_price(price_id, changes, idempotency_key=new_idempotency_key("price"))

    def sync_price(
        self, price: Price, product_id: str | None, listed: dict[str, shapes.Price]
    ) -> None:
        wanted = self.item.active and price.active
        described = describe_price(price.unit_amount, price.currency, self.interval)
        if not price.stripe_price_id:
            if not wanted:
                return
            if self.dry_run or product_id is None:
                self.record(price.currency, Action.CREATE_PRICE, None, described)
                return
            price_id = self.create_price(price, product_id, listed, replaces=None)
            self.record(price.currency, Action.CREATE_PRICE, price_id, described)
            return

        old_id = price.stripe_price_id
        current = listed.get(old_id) or self.gateway.retrieve_price(old_id)
        if not wanted:
            if not current.get("active"):
                self.record(price.currency, Action.UP_TO_DATE, old_id, "")
                return
            reason = "price inactive" if self.item.active else "item inactive"
            if not self.dry_run:
                self.update_price(old_id, {"active": False})
            self.record(price.currency, Action.ARCHIVE_PRICE, old_id, reason)
            return

        if not self.is_same_price(price, product_id, current):
            detail = f"{_describe_stripe_price(current)} -> {described}"
            if self.dry_run or product_id is None:
                self.record(price.currency, Action.REPLACE_PRICE, old_id, detail)
                return
            new_id = self.create_price(price, product_id, listed, replaces=old_id)
            if current.get("active"):
                self.update_price(old_id, {"active": False})
            self.record(price.currency, Action.REPLACE_PRICE, new_id, f"{detail}; old {old_id}")
            return

        changes = self.price_changes(price, current)
        if not changes:
            self.record(price.currency, Action.UP_TO_DATE, old_id, "")
            return
        if not self.dry_run:
            self.update_price(old_id, changes)
        fields = [name for name in changes if name != "transfer_lookup_key"]
        self.record(price.currency, Action.UPDATE_PRICE, old_id, ", ".join(fields))


def sync_catalogue(
    *,
    dry_run: bool = False,
    gateway: StripeGateway | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncReport:
    """Create, update or archive Stripe products and prices to match our catalogue.

    Active plans and packages are pushed with their prices; inactive ones that
    were pushed before are archived, with their prices. With ``dry_run`` nothing
    is written to Stripe or the database (existing objects are still read, to
    tell what would change).

    Raises ``StripeDisabled`` when billing is off and ``CatalogueSyncFailed``
    (wrapping the ``StripeGatewayError``) when a call fails mid-way.
    """
    if gateway is None:
        gateway = get_gateway()
    items = _items()
    report = SyncReport(dry_run=dry_run, items=len(items))
    for done, item in enumerate(items, 1):
        sync = _ItemSync(item, gateway, report, dry_run=dry_run)
        try:
            sync.run()
        except StripeGatewayError as exc:
            logger.warning("catalogue sync stopped at %s: %s", sync.label, exc.code)
            raise CatalogueSyncFailed(sync.label, exc, report) from exc
        if on_progress is not None:
            on_progress(done, len(items), sync.label)
    logger.info("catalogue sync%s finished: %s", " (dry run)" if dry_run else "", report.summary)
    return report
