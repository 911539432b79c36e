"""Invoices, their lines and their payments."""

from __future__ import annotations

import copy
from typing import Any

from fiko_billing.emulator.shapes import billing as billing_shapes
from fiko_billing.emulator.wire import list_object
from fiko_billing.testing.payloads.base import (
    DAY,
    Obj,
    context,
    now,
    sequence,
    stripe_id,
    with_overrides,
)


def invoice_line(
    *,
    invoice_id: str,
    price_obj: Obj,
    amount: int,
    start: int,
    end: int,
    subscription_id: str | None,
    subscription_item: str | None = None,
    quantity: int = 1,
    proration: bool = False,
    description: str | None = None,
) -> Obj:
    """One invoice line: a subscription item's own (``proration=False``) or a proration.

    A proration is an invoice item for the subscription item, as Stripe bills
    a plan change: it names its invoice item under
    ``parent.subscription_item_details``.
    """
    item_id = subscription_item or (stripe_id("si") if subscription_id else None)
    # A line without a subscription item is an invoice item's.
    invoice_item = stripe_id("ii") if proration or item_id is None else None
    return billing_shapes.invoice_line(
        context(start),
        invoice_id=invoice_id,
        amount=amount,
        currency=price_obj["currency"],
        description=description or f"{quantity} × {price_obj['id']}",  # noqa: RUF001
        price_obj=price_obj,
        quantity=quantity,
        start=start,
        end=end,
        subscription=subscription_id,
        subscription_item=item_id,
        invoice_item=invoice_item,
        proration=proration,
    )


def invoice(
    *,
    customer_id: str,
    subscription_id: str | None,
    price_obj: Obj,
    billing_reason: str = "subscription_create",
    status: str = "paid",
    period_start: int | None = None,
    period_end: int | None = None,
    quantity: int = 1,
    prorations: list[Obj] | None = None,
    subscription_item: str | None = None,
    **overrides: Any,
) -> Obj:
    """An invoice as a webhook carries it: ``payments`` and ``confirmation_secret`` are
    includable fields, never in a payload.

    ``period_start``/``period_end`` are the service period of the
    subscription's line. ``prorations`` (lines from ``invoice_line(...,
    proration=True)``) come first, as Stripe orders lines: pending items
    newest first, then the subscription's items. The subscription sits under
    ``parent.subscription_details``.
    """
    period_start = now() if period_start is None else period_start
    period_end = period_start + 30 * DAY if period_end is None else period_end
    invoice_id = overrides.pop("id", None) or stripe_id("in")
    obj = _draft(
        invoice_id,
        customer_id,
        subscription_id,
        price_obj,
        billing_reason,
        period_start,
        period_end,
    )
    lines = [copy.deepcopy(line) for line in prorations or []]
    for line in lines:
        line["invoice"] = invoice_id
    lines.append(
        invoice_line(
            invoice_id=invoice_id,
            price_obj=price_obj,
            amount=int(price_obj["unit_amount"]) * quantity,
            start=period_start,
            end=period_end,
            subscription_id=subscription_id,
            subscription_item=subscription_item,
            quantity=quantity,
        )
    )
    _set_lines(obj, lines)
    _move_to(obj, status, at=period_start)
    return with_overrides(obj, overrides)


def _draft(
    invoice_id: str,
    customer_id: str,
    subscription_id: str | None,
    price_obj: Obj,
    billing_reason: str,
    period_start: int,
    period_end: int,
) -> Obj:
    """The draft invoice, before its lines."""
    parent = None if subscription_id is None else {"id": subscription_id, "metadata": {}}
    # An invoice's own period bounds the items it takes: the period that ended
    # for a renewal, the moment of creation otherwise.
    renewal = billing_reason == "subscription_cycle"
    used_from = period_start - (period_end - period_start) if renewal else period_start
    return billing_shapes.invoice(
        context(period_start, base_url="https://invoice.stripe.com"),
        invoice_id=invoice_id,
        customer={"id": customer_id, "email": "customer@example.com"},
        currency=price_obj["currency"],
        billing_reason=billing_reason,
        subscription=parent,
        period_start=used_from,
        period_end=period_start,
    )


def _set_lines(obj: Obj, lines: list[Obj]) -> None:
    obj["lines"] = list_object(lines, f"/v1/invoices/{obj['id']}/lines")
    total = sum(line["amount"] for line in lines)
    obj.update(
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
        amount_due=max(total, 0),
        amount_remaining=max(total, 0),
    )


def _move_to(obj: Obj, status: str, *, at: int) -> None:
    """Finalize the draft at ``at`` and take it on to ``status`` (paid, void...)."""
    if status == "draft":
        return
    obj.update(
        status="open",
        number=f"FIKO0001-{sequence():04d}",
        effective_at=at,
        ending_balance=0,
        hosted_invoice_url=f"https://invoice.stripe.com/i/{obj['id']}",
        webhooks_delivered_at=at,
    )
    obj["status_transitions"]["finalized_at"] = at
    if status == "paid":
        obj.update(
            status="paid",
            amount_paid=obj["amount_due"],
            amount_remaining=0,
            attempted=True,
            attempt_count=1,
        )
        obj["status_transitions"]["paid_at"] = at
    elif status in ("void", "uncollectible"):
        obj["status"] = status


def invoice_payment(
    *,
    invoice_id: str,
    payment_intent: str,
    amount: int,
    currency: str = "usd",
    status: str = "paid",
    **overrides: Any,
) -> Obj:
    """An invoice payment (``invoice_payment.paid``): the link from an invoice to its intent."""
    ctx = context()
    invoice_like = {"id": invoice_id, "amount_due": amount, "currency": currency}
    obj = billing_shapes.invoice_payment(ctx, invoice_like, payment_intent)
    obj["id"] = stripe_id("inpay")
    if status == "paid":
        obj.update(status="paid", amount_paid=amount)
        obj["status_transitions"]["paid_at"] = obj["created"]
    else:
        obj["status"] = status
    return with_overrides(obj, overrides)
