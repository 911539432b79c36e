"""What ``sync_stripe_products`` did, or in a dry run would do: one change per Stripe object."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from fiko_billing.exceptions import BillingError
from fiko_billing.gateway import StripeGatewayError
from fiko_billing.money import format_amount

__all__ = ["Action", "CatalogueSyncFailed", "Change", "SyncReport", "describe_price"]


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


def describe_price(amount: int | None, currency: str, interval: str) -> str:
    money = "no fixed amount" if amount is None else format_amount(amount, currency)
    return f"{money}/{interval}" if interval else f"{money} once"
