"""Pushing the local catalogue (plans, token packages, prices) to Stripe.

The database is the source of truth: names, amounts and what is for sale come
from our rows, and Stripe is brought in line with them. Stripe ids are stored
back on each row as soon as the object exists, so a run that fails half-way
keeps what it already did and the next run carries on from there.

A Stripe price cannot change its amount, currency or interval. When one of
those changes locally, a new price is created that takes over the lookup key
(``transfer_lookup_key``) and the old one is archived; subscriptions already on
the old price keep it until they are moved.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fiko_billing.exceptions import BillingError
from fiko_billing.gateway import StripeDict, StripeGateway, StripeGatewayError, get_gateway
from fiko_billing.models import Plan, Price, TokenPackage
from fiko_billing.money import format_amount
from fiko_billing.services.stripe_data import metadata, object_id

logger = logging.getLogger("fiko_billing.catalog_sync")

Item = Plan | TokenPackage

#: ``on_progress(done, total, item)`` is called after each plan or package.
ProgressCallback = Callable[[int, int, str], None]


class Action(StrEnum):
    CREATE_PRODUCT = "create product"
    UPDATE_PRODUCT = "update product"
    ARCHIVE_PRODUCT = "archive product"
    CREATE_PRICE = "create price"
    REPLACE_PRICE = "replace price"
    UPDATE_PRICE = "update price"
    ARCHIVE_PRICE = "archive price"
    UP_TO_DATE = "up to date"


_CREATES = frozenset({Action.CREATE_PRODUCT, Action.CREATE_PRICE, Action.REPLACE_PRICE})
_UPDATES = frozenset({Action.UPDATE_PRODUCT, Action.UPDATE_PRICE})
# A replaced price is both: a new price exists and the old one is archived.
_ARCHIVES = frozenset({Action.ARCHIVE_PRODUCT, Action.ARCHIVE_PRICE, Action.REPLACE_PRICE})


@dataclass(frozen=True)
class Change:
    """One Stripe object and what the sync did (or, in a dry run, would do) to it."""

    item: str
    #: Upper-case currency of a price; empty for the product.
    currency: str
    action: Action
    #: The object's Stripe id after the change; empty for one a dry run would create.
    stripe_id: str
    detail: str = ""


@dataclass
class SyncReport:
    dry_run: bool = False
    items: int = 0
    changes: list[Change] = field(default_factory=list)

    def count(self, actions: frozenset[Action]) -> int:
        return sum(1 for change in self.changes if change.action in actions)

    @property
    def created(self) -> int:
        return self.count(_CREATES)

    @property
    def updated(self) -> int:
        return self.count(_UPDATES)

    @property
    def archived(self) -> int:
        return self.count(_ARCHIVES)

    @property
    def unchanged(self) -> int:
        return self.count(frozenset({Action.UP_TO_DATE}))

    @property
    def summary(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, "
            f"{self.archived} archived, {self.unchanged} unchanged"
        )


class CatalogueSyncFailed(BillingError):
    """Stripe refused or failed a call while syncing one item.

    ``report`` holds what was done before; those rows kept their Stripe ids.
    """

    code = "catalogue_sync_failed"

    def __init__(self, item: str, error: StripeGatewayError, report: SyncReport) -> None:
        self.item = item
        self.error = error
        self.report = report
        answer = f"HTTP {error.http_status}" if error.http_status else "no HTTP answer"
        if error.stripe_code:
            answer = f"{answer}, {error.stripe_code}"
        request = f" (request {error.request_id})" if error.request_id else ""
        super().__init__(f"Syncing {item} failed: Stripe said {answer}{request}: {error}")


def item_ref(item: Item) -> str:
    """``plan:<pk>`` / ``package:<pk>``, the value of ``metadata[fiko_item]``."""
    return f"{'plan' if isinstance(item, Plan) else 'package'}:{item.pk}"


def lookup_key(item: Item, currency: str) -> str:
    kind = "plan" if isinstance(item, Plan) else "package"
    return f"fiko_{kind}_{item.pk}_{currency}"


def idempotency_key(kind: str, operation: str, ref: str, material: Mapping[str, Any]) -> str:
    """The same write asked for again (a retried run) gets the same key.

    ``material`` holds the request parameters plus what tells one intended
    change from a later, identical-looking one: the target's Stripe id and the
    ``modified`` time of our rows. Without those, toggling a price off, on and
    off again within Stripe's 24-hour key window would replay the first answer
    instead of archiving it.
    """
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:16]
    return f"fiko:{kind}:{operation}:{ref}:{digest}"


def describe_price(amount: int | None, currency: str, interval: str) -> str:
    money = "no fixed amount" if amount is None else format_amount(amount, currency)
    return f"{money}/{interval}" if interval else f"{money} once"


def _describe_stripe_price(price: StripeDict) -> str:
    recurring = price.get("recurring") or {}
    return describe_price(
        price.get("unit_amount"), str(price.get("currency") or ""), recurring.get("interval") or ""
    )


def _items() -> list[Item]:
    # Inactive items that were never in Stripe have nothing to archive there.
    plans = Plan.objects.prefetch_related("prices").order_by("sort_order", "pk")
    packages = TokenPackage.objects.prefetch_related("prices").order_by("sort_order", "pk")
    items: list[Item] = [*plans, *packages]
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
        listed: dict[str, StripeDict] = {}
        prices = sorted(self.item.prices.all(), key=lambda p: (p.currency, p.pk))
        if existed and product_id and any(p.stripe_price_id for p in prices):
            # One listing instead of one GET per price.
            listed = {p["id"]: p for p in self.gateway.list_prices(product_id)}
        for price in prices:
            self.sync_price(price, product_id, listed)

    # ------------------------------------------------------------------ product

    def product_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "name": self.item.name,
            "active": self.item.active,
            "metadata": {"fiko_item": self.ref},
        }
        if self.item.description:
            params["description"] = self.item.description
        return params

    def product_changes(self, current: StripeDict) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if current.get("name") != self.item.name:
            changes["name"] = self.item.name
        if (current.get("description") or "") != self.item.description:
            # An empty string clears the description in Stripe.
            changes["description"] = self.item.description
        if bool(current.get("active")) != self.item.active:
            changes["active"] = self.item.active
        if metadata(current).get("fiko_item") != self.ref:
            changes["metadata"] = {"fiko_item": self.ref}
        return changes

    def sync_product(self) -> tuple[str | None, bool]:
        """The product's Stripe id (``None`` if a dry run would create it) and
        whether it existed before this run."""
        item = self.item
        version = item.modified.isoformat()
        if not item.stripe_product_id:
            params = self.product_params()
            if self.dry_run:
                self.record("", Action.CREATE_PRODUCT, None, "")
                return None, False
            key = idempotency_key(
                "product", "create", self.ref, {"params": params, "version": version}
            )
            product_id = str(self.gateway.create_product(params, idempotency_key=key)["id"])
            type(item).objects.filter(pk=item.pk).update(stripe_product_id=product_id)
            item.stripe_product_id = product_id
            self.record("", Action.CREATE_PRODUCT, product_id, "")
            return product_id, False

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
            key = idempotency_key(
                "product",
                "update",
                self.ref,
                {
                    "params": changes,
                    "target": product_id,
                    "version": version,
                    # Moves with every edit, also one made in the Dashboard.
                    "stripe_updated": current.get("updated"),
                },
            )
            self.gateway.update_product(product_id, changes, idempotency_key=key)
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

    def is_same_price(self, price: Price, product_id: str | None, current: StripeDict) -> bool:
        """Whether ``current`` has what a Stripe price can never change."""
        recurring = current.get("recurring") or {}
        return (
            current.get("unit_amount") == price.unit_amount
            and current.get("currency") == price.currency
            and (recurring.get("interval") or "") == self.interval
            and (not recurring or (recurring.get("interval_count") or 1) == 1)
            and object_id(current.get("product")) == product_id
        )

    def price_changes(self, price: Price, current: StripeDict) -> dict[str, Any]:
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

    def price_ref(self, price: Price) -> str:
        return f"{self.ref}:{price.currency}"

    def version(self, price: Price) -> list[str]:
        return [self.item.modified.isoformat(), price.modified.isoformat()]

    def create_price(self, price: Price, product_id: str, replaces: str | None) -> str:
        params = self.price_params(price, product_id)
        key = idempotency_key(
            "price",
            "create",
            self.price_ref(price),
            {"params": params, "replaces": replaces, "version": self.version(price)},
        )
        price_id = str(self.gateway.create_price(params, idempotency_key=key)["id"])
        Price.objects.filter(pk=price.pk).update(stripe_price_id=price_id)
        price.stripe_price_id = price_id
        return price_id

    def update_price(
        self, price: Price, price_id: str, changes: dict[str, Any], current: StripeDict
    ) -> None:
        before = {name: current.get(name) for name in changes}
        key = idempotency_key(
            "price",
            "update",
            self.price_ref(price),
            {
                "params": changes,
                "target": price_id,
                "from": before,
                "version": self.version(price),
            },
        )
        self.gateway.update_price(price_id, changes, idempotency_key=key)

    def sync_price(
        self, price: Price, product_id: str | None, listed: dict[str, StripeDict]
    ) -> None:
        wanted = self.item.active and price.active
        described = describe_price(price.unit_amount, price.currency, self.interval)
        if not price.stripe_price_id:
            if not wanted:
                return
            if self.dry_run or product_id is None:
                self.record(price.currency, Action.CREATE_PRICE, None, described)
                return
            price_id = self.create_price(price, product_id, replaces=None)
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
                self.update_price(price, old_id, {"active": False}, current)
            self.record(price.currency, Action.ARCHIVE_PRICE, old_id, reason)
            return

        if not self.is_same_price(price, product_id, current):
            detail = f"{_describe_stripe_price(current)} -> {described}"
            if self.dry_run or product_id is None:
                self.record(price.currency, Action.REPLACE_PRICE, old_id, detail)
                return
            new_id = self.create_price(price, product_id, replaces=old_id)
            if current.get("active"):
                self.update_price(price, old_id, {"active": False}, current)
            self.record(price.currency, Action.REPLACE_PRICE, new_id, f"{detail}; old {old_id}")
            return

        changes = self.price_changes(price, current)
        if not changes:
            self.record(price.currency, Action.UP_TO_DATE, old_id, "")
            return
        if not self.dry_run:
            self.update_price(price, old_id, changes, current)
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
