"""A subscription's life: start, renew, collect and retry, end."""

from __future__ import annotations

import copy

from fiko_billing.emulator.billing_settings import CANCELED, UNPAID
from fiko_billing.emulator.clock import period_end
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import charging, invoicing
from fiko_billing.emulator.engine.discounting import expired_discounts
from fiko_billing.emulator.shapes import billing as shapes
from fiko_billing.emulator.store import Obj

LIVE = ("active", "past_due", "trialing", "unpaid", "incomplete")


def start(
    ctx: Ctx,
    *,
    customer: Obj,
    prices: list[tuple[Obj, int]],
    pm: Obj,
    metadata: dict[str, str],
    discounts: list[Obj],
    description: str | None = None,
) -> tuple[Obj, Obj]:
    """A new subscription and its paid first invoice, with Stripe's events in order.

    Checkout has already taken the payment on session (3D Secure included),
    so the first invoice is paid with ``pm`` without a new challenge.
    """
    sub_id = ctx.new_id("sub")
    now = ctx.now()
    items = []
    for price, quantity in prices:
        recurring = price["recurring"]
        end = period_end(now, recurring["interval"], recurring["interval_count"], now)
        items.append(shapes.subscription_item(ctx, sub_id, price, quantity, now, end))
    sub = shapes.subscription(
        ctx,
        sub_id=sub_id,
        customer=customer["id"],
        currency=prices[0][0]["currency"],
        items=items,
        payment_method=pm["id"],
        metadata=metadata,
        description=description,
    )
    for discount in discounts:
        discount["subscription"] = sub_id
        sub["discounts"].append(discount["id"])
    invoice_id = ctx.new_id("in")
    sub["latest_invoice"] = invoice_id
    ctx.store.add(sub)
    ctx.events.emit("customer.subscription.created", sub)
    invoice = invoicing.draft(
        ctx, sub, billing_reason="subscription_create", invoice_id=invoice_id
    )
    invoicing.finalize(ctx, invoice)
    before = copy.deepcopy(sub)
    outcome = invoicing.collect(ctx, invoice, pm, off_session=False, authenticated=True)
    if outcome is None or outcome.ok:
        sub["status"] = "active"
    ctx.events.updated("customer.subscription.updated", before, sub)
    return sub, invoice


def period_of(sub: Obj) -> tuple[int, int]:
    first = sub["items"]["data"][0]
    return int(first["current_period_start"]), int(first["current_period_end"])


def renew(ctx: Ctx, sub: Obj) -> Obj:
    """The period boundary: move the periods on, invoice the new one, collect it."""
    before = copy.deepcopy(sub)
    ended = period_of(sub)
    for item in sub["items"]["data"]:
        recurring = item["price"]["recurring"]
        new_start = item["current_period_end"]
        item["current_period_start"] = new_start
        item["current_period_end"] = period_end(
            new_start,
            recurring["interval"],
            recurring["interval_count"],
            sub["billing_cycle_anchor"],
        )
    expired = expired_discounts(ctx, sub, period_of(sub)[0])
    sub["discounts"] = [d for d in sub["discounts"] if d not in expired]
    invoice_id = ctx.new_id("in")
    sub["latest_invoice"] = invoice_id
    ctx.events.updated("customer.subscription.updated", before, sub)
    # The draft is finalized and charged when its ``automatically_finalizes_at``
    # falls due (see timeline), an hour later by default.
    return invoicing.draft(
        ctx, sub, billing_reason="subscription_cycle", invoice_id=invoice_id, usage_period=ended
    )


def finalize_and_collect(ctx: Ctx, invoice: Obj) -> None:
    """Finalize a draft subscription invoice and charge the saved card off session."""
    invoicing.finalize(ctx, invoice)
    retry(ctx, invoice)


def retry(ctx: Ctx, invoice: Obj) -> None:
    """One automatic collection attempt of an open invoice, and its effect on the subscription."""
    sub = _subscription_of(ctx, invoice)
    pm = charging.default_payment_method(ctx, sub) if sub else None
    invoicing.collect(ctx, invoice, pm, off_session=True)
    settle(ctx, invoice)


def settle(ctx: Ctx, invoice: Obj) -> None:
    """What a collection attempt (automatic, or the customer's on the invoice page) means
    for the invoice's subscription: active once nothing is overdue, else past due."""
    sub = _subscription_of(ctx, invoice)
    if sub is None:
        return
    before = copy.deepcopy(sub)
    if invoice["status"] == "paid":
        if sub["status"] in ("past_due", "unpaid") and not _unpaid_invoices(ctx, sub):
            sub["status"] = "active"
    elif invoice["next_payment_attempt"] is None:
        # Retries used up: the account's settings decide (Stripe's default cancels).
        after = ctx.store.billing.after_retries
        if after == CANCELED:
            cancel_now(ctx, sub, reason="payment_failed")
            return
        sub["status"] = UNPAID if after == UNPAID else "past_due"
    else:
        sub["status"] = "past_due"
    ctx.events.updated("customer.subscription.updated", before, sub)


def subscription_id(invoice: Obj) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription")


def _subscription_of(ctx: Ctx, invoice: Obj) -> Obj | None:
    sub_id = subscription_id(invoice)
    return ctx.store.get("subscription", sub_id) if sub_id else None


def _unpaid_invoices(ctx: Ctx, sub: Obj) -> list[Obj]:
    return [
        inv
        for inv in ctx.store.iter("invoice")
        if inv["status"] == "open" and _subscription_of(ctx, inv) is sub
    ]


def cancel_now(
    ctx: Ctx, sub: Obj, *, reason: str, comment: str | None = None, feedback: str | None = None
) -> None:
    """End the subscription at once: ``customer.subscription.deleted``."""
    now = ctx.now()
    sub["status"] = "canceled"
    sub["ended_at"] = now
    # canceled_at records the request; a cancel scheduled earlier keeps its time.
    if sub["cancel_at"] is None or sub["canceled_at"] is None:
        sub["canceled_at"] = now
    details = sub["cancellation_details"]
    sub["cancellation_details"] = {
        "comment": comment if comment is not None else details.get("comment"),
        "feedback": feedback if feedback is not None else details.get("feedback"),
        "reason": reason,
    }
    for invoice in _unpaid_invoices(ctx, sub):
        invoice["next_payment_attempt"] = None
    ctx.events.emit("customer.subscription.deleted", sub)


def end_of_period(ctx: Ctx, sub: Obj) -> None:
    """A cancel scheduled for the period end takes effect."""
    cancel_now(ctx, sub, reason="cancellation_requested")
