"""What a paid subscription invoice grants: the rules of plan allowances.

* The invoice's own subscription line (``parent.subscription_item_details``
  with ``proration: false``; never ``lines.data[0]``, which Stripe fills with
  proration lines first) pays for a billing period: a plan grants its
  ``tokens_per_period`` times the quantity for that period, expiring at its end
  (unless ``TOKEN_ROLLOVER``); a recurring token package credits its tokens.
  This covers the first invoice, every renewal, and a plan change that starts
  a new period (another interval, or a reset billing anchor).
* A new period that starts before an earlier granted period of the same
  subscription ended (a plan change to another interval) ends that earlier
  allowance: what is left of it expires at once. Stripe credits the unused
  time in money, so the tokens of that time go too.
* A plan change inside the period (same interval) is billed with proration
  lines only. An upgrade (the new plan grants more per period) that is
  invoiced at once (``always_invoice``) grants the difference for the rest of
  the period, in proportion to the part of the period left (the proration
  line's share of the new price). A downgrade takes nothing back: the old
  allowance stays until the period ends, and the next period's invoice grants
  the new plan's. Prorations billed later (``create_prorations``) or never
  (``none``) grant nothing more: their period has ended by then.
* An allowance for a period that is already over when the invoice is
  processed is credited and expires at once, so the ledger shows what was
  paid for whatever the order events arrive in.

Every credit is keyed ``invoice:<id>``, one per invoice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from fiko_billing import stripe_shapes as shapes
from fiko_billing import tokens
from fiko_billing.conf import billing_settings
from fiko_billing.models import EntryKind, Payment, Product, TokenEntry
from fiko_billing.services.catalogue_lookup import item_for
from fiko_billing.services.stripe_data import metadata, object_id, ts
from fiko_billing.subscribers import Subscriber

logger = logging.getLogger("fiko_billing.fulfilment")


def _line_details(line: shapes.InvoiceLine) -> shapes.LineParentDetails:
    parent = line.get("parent") or {}
    return parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}


def is_proration(line: shapes.InvoiceLine) -> bool:
    details = _line_details(line)
    if "proration" in details:
        return bool(details["proration"])
    return bool(line.get("proration"))  # payloads of versions before 2025-03-31


def subscription_line(invoice: shapes.Invoice) -> shapes.InvoiceLine | None:
    """The line that bills the subscription's own period (not a proration)."""
    for line in (invoice.get("lines") or {}).get("data") or []:
        parent = line.get("parent") or {}
        if parent.get("type") == "subscription_item_details" and not is_proration(line):
            return line.copy()
        if not parent and line.get("type") == "subscription" and not line.get("proration"):
            return line.copy()  # payloads of versions before 2025-03-31
    return None


def _item_of(line: shapes.InvoiceLine) -> tuple[Product | None, Any]:
    pricing = (line.get("pricing") or {}).get("price_details") or {}
    return item_for(
        price_id=object_id(pricing.get("price")) or object_id(line.get("price")),
        product_id=object_id(pricing.get("product")),
        metadata=metadata(line),
    )


class AllowanceKind(StrEnum):
    #: A billing period's allowance.
    PERIOD = "period"
    #: The rest of a period's allowance, after an upgrade.
    UPGRADE = "upgrade"


@dataclass(frozen=True)
class Allowance:
    """What one paid invoice buys."""

    item: Product
    quantity: int
    tokens: int
    period_start: datetime | None
    period_end: datetime | None
    kind: AllowanceKind


#: Invoices that pay for a subscription's period (or the rest of one).
GRANTING_REASONS = frozenset({"subscription_create", "subscription_cycle", "subscription_update"})


def line_period(invoice: shapes.Invoice) -> tuple[datetime | None, datetime | None]:
    """The period of the invoice's subscription line, if it has one (no database)."""
    line = subscription_line(invoice)
    period = (line or {}).get("period") or {}
    return ts(period.get("start")), ts(period.get("end"))


def allowance_for(invoice: shapes.Invoice) -> Allowance | None:
    """The item, period and tokens a subscription invoice pays for, from its lines.

    Only the invoices Stripe makes for the subscription itself grant; one a
    person creates (``billing_reason`` ``manual``) grants nothing.
    """
    if invoice.get("billing_reason") not in GRANTING_REASONS:
        return None
    line = subscription_line(invoice)
    if line is not None:
        item, _price = _item_of(line)
        if item is None:
            return None
        quantity = int(line.get("quantity") or 1)
        period = line.get("period") or {}
        return Allowance(
            item,
            quantity,
            item.tokens_for(quantity),
            ts(period.get("start")),
            ts(period.get("end")),
            AllowanceKind.PERIOD,
        )
    if invoice.get("billing_reason") != "subscription_update":
        return None
    return _upgrade(invoice)


def _upgrade(invoice: shapes.Invoice) -> Allowance | None:
    charged: tuple[Product, int, shapes.InvoiceLine, Any] | None = None
    credited: tuple[Product, int] | None = None
    for line in (invoice.get("lines") or {}).get("data") or []:
        if not is_proration(line):
            continue
        item, price = _item_of(line)
        if item is None or not item.product_kind.rules.is_plan:
            continue
        quantity = int(line.get("quantity") or 1)
        if int(line.get("amount") or 0) > 0:
            charged = (item, quantity, line, price)
        elif int(line.get("amount") or 0) < 0:
            credited = (item, quantity)
    if charged is None:
        return None
    plan, quantity, line, price = charged
    old = credited[0].tokens_for(credited[1]) if credited else 0
    difference = plan.tokens_for(quantity) - old
    if difference <= 0:
        return None  # a downgrade keeps what the period already granted
    full = (price.unit_amount if price is not None else 0) * quantity
    share = min(1.0, int(line["amount"]) / full) if full > 0 else 1.0
    period = line.get("period") or {}
    granted = int(difference * share)
    if granted <= 0:
        return None
    return Allowance(
        plan,
        quantity,
        granted,
        ts(period.get("start")),
        ts(period.get("end")),
        AllowanceKind.UPGRADE,
    )


def credit_reference(invoice_id: str) -> str:
    return f"invoice:{invoice_id}"


def grant(
    subscriber: Subscriber,
    invoice: shapes.Invoice,
    allowance: Allowance,
    *,
    subscription_id: str | None,
    overlapping: bool = True,
) -> TokenEntry | None:
    """Credit ``allowance`` once (keyed by the invoice), and end what it supersedes.

    ``overlapping=False`` says no credited period of the subscription overlaps
    this one (``payments.invoice_facts`` knows), so there is nothing to look for.
    """
    if allowance.tokens <= 0:
        return None
    reference = credit_reference(str(invoice["id"]))
    item = allowance.item
    now = timezone.now()
    if not item.product_kind.rules.tokens_expire:
        return tokens.credit(
            subscriber,
            allowance.tokens,
            kind=EntryKind.PURCHASE,
            reference=reference,
            description=f"{item.name} (recurring)",
        )
    expires_at = None if billing_settings.TOKEN_ROLLOVER else allowance.period_end
    over = expires_at is not None and expires_at <= now
    label = "allowance" if allowance.kind == AllowanceKind.PERIOD else "upgrade allowance"
    entry = tokens.credit(
        subscriber,
        allowance.tokens,
        kind=EntryKind.GRANT,
        reference=reference,
        expires_at=None if over else expires_at,
        description=f"{item.name} {label}",
    )
    if over:
        logger.info("invoice %s: its period is over; the allowance expires at once", invoice["id"])
        tokens.expire_credit(subscriber, reference, now=now)
    elif overlapping and subscription_id and allowance.period_start is not None:
        _supersede(subscriber, subscription_id, str(invoice["id"]), allowance, now)
    return entry


def credited_periods(subscription_id: str, *, excluding_invoice: str) -> QuerySet[Payment]:
    """The subscription's other invoice payments whose period allowance was granted."""
    return Payment.objects.filter(
        stripe_subscription_id=subscription_id,
        credited_at__isnull=False,
        period_start__isnull=False,
        period_end__isnull=False,
        stripe_invoice_id__isnull=False,
    ).exclude(stripe_invoice_id=excluding_invoice)


def _supersede(
    subscriber: Subscriber,
    subscription_id: str,
    invoice_id: str,
    allowance: Allowance,
    now: datetime,
) -> None:
    """A period that starts inside another ends the older one's allowance."""
    assert allowance.period_start is not None  # noqa: S101 - checked by the caller
    for payment in credited_periods(subscription_id, excluding_invoice=invoice_id):
        start, end = payment.period_start, payment.period_end
        assert start is not None  # noqa: S101 - filtered above
        assert end is not None  # noqa: S101 - filtered above
        if allowance.kind == AllowanceKind.PERIOD and start < allowance.period_start < end:
            # The older period was cut short by this one (a new billing cycle).
            tokens.expire_credit(
                subscriber, credit_reference(str(payment.stripe_invoice_id)), now=now
            )
        elif (
            allowance.period_end is not None
            and allowance.period_start < start < allowance.period_end
        ):
            # A newer period already started inside this one.
            tokens.expire_credit(subscriber, credit_reference(invoice_id), now=now)
