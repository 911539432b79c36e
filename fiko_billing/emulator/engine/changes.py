"""Changes a customer asks for: schedule or undo a cancel, switch price.

Each change comes in two halves so one API request that changes several
things still produces one ``customer.subscription.updated``: the ``apply_*``
and ``mark_*`` functions only change state, and the request (or the portal
action) announces the result once, then bills what the change left to bill.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from fiko_billing.emulator.clock import period_end
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import invoicing, lifecycle
from fiko_billing.emulator.formatting import day
from fiko_billing.emulator.shapes import billing as shapes
from fiko_billing.emulator.shapes.catalogue import plan
from fiko_billing.emulator.store import Obj


def mark_cancel(
    ctx: Ctx,
    sub: Obj,
    *,
    at: int | None = None,
    feedback: str | None = None,
    comment: str | None = None,
) -> None:
    """Cancel at the period end, or at ``at`` (a dated ``cancel_at``)."""
    sub["cancel_at_period_end"] = at is None
    sub["cancel_at"] = lifecycle.period_of(sub)[1] if at is None else at
    sub["canceled_at"] = ctx.now()
    sub["cancellation_details"] = {
        "comment": comment,
        "feedback": feedback,
        "reason": "cancellation_requested",
    }


def clear_cancel(sub: Obj) -> None:
    sub["cancel_at_period_end"] = False
    sub["cancel_at"] = None
    sub["canceled_at"] = None
    sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": None}


def schedule_cancel(ctx: Ctx, sub: Obj) -> None:
    before = copy.deepcopy(sub)
    mark_cancel(ctx, sub)
    ctx.events.updated("customer.subscription.updated", before, sub)


def resume(ctx: Ctx, sub: Obj) -> None:
    before = copy.deepcopy(sub)
    clear_cancel(sub)
    ctx.events.updated("customer.subscription.updated", before, sub)


@dataclass
class Switch:
    """What a price switch leaves to bill once it has been announced."""

    prorations: list[Obj] = field(default_factory=list)
    invoice_id: str | None = None
    new_cycle: bool = False


def apply_switch(
    ctx: Ctx,
    sub: Obj,
    item: Obj,
    price: Obj,
    *,
    quantity: int | None,
    proration_behavior: str,
) -> Switch:
    """Change an item's price (and quantity), prorating as ``proration_behavior`` says.

    Same interval: the period stays; ``create_prorations`` leaves a credit and
    a charge for the rest of the period on the next invoice, ``always_invoice``
    bills them now. Another interval: the billing cycle restarts now and the
    new period is invoiced at once, as Stripe does.
    """
    old_price, old_quantity = item["price"], item["quantity"]
    new_quantity = old_quantity if quantity is None else quantity
    now = ctx.now()
    start, end = item["current_period_start"], item["current_period_end"]
    recurring = price["recurring"]
    old_recurring = old_price["recurring"]
    same_cycle = (old_recurring["interval"], old_recurring["interval_count"]) == (
        recurring["interval"],
        recurring["interval_count"],
    )
    switch = Switch(new_cycle=not same_cycle)
    if proration_behavior != "none" and end > now:
        fraction = (end - now) / max(1, end - start)
        credited = invoicing.credited_lines(ctx, item["id"])
        # Flexible billing mode credits what was billed (discounts included).
        billed = invoicing.billed_amount(ctx, credited, old_price["id"], (start, end))
        if billed is None:
            billed = old_price["unit_amount"] * old_quantity
        unused = _half_up(billed * fraction)
        credit = _proration(
            ctx, sub, item, old_price, old_quantity, -unused, "Unused time on", now, end
        )
        ctx.store.hidden(credit["id"])["credited_items"] = credited
        switch.prorations.append(credit)
        if same_cycle:
            rest = _half_up(price["unit_amount"] * new_quantity * fraction)
            switch.prorations.append(
                _proration(
                    ctx, sub, item, price, new_quantity, rest, "Remaining time on", now, end
                )
            )
    item["price"] = copy.deepcopy(price)
    item["plan"] = plan(price)
    item["quantity"] = new_quantity
    if not same_cycle:
        sub["billing_cycle_anchor"] = now
        for each in sub["items"]["data"]:
            each["current_period_start"] = now
            each["current_period_end"] = period_end(
                now, recurring["interval"], recurring["interval_count"], now
            )
    if not same_cycle or proration_behavior == "always_invoice":
        switch.invoice_id = ctx.new_id("in")
        sub["latest_invoice"] = switch.invoice_id
    return switch


def bill_switch(ctx: Ctx, sub: Obj, switch: Switch) -> None:
    """After the update is announced: the proration items, and the invoice if due now."""
    for ii in switch.prorations:
        ctx.events.emit("invoiceitem.created", ii)
    if switch.invoice_id is not None:
        invoice = invoicing.draft(
            ctx,
            sub,
            billing_reason="subscription_update",
            invoice_id=switch.invoice_id,
            include_subscription_lines=switch.new_cycle,
        )
        lifecycle.finalize_and_collect(ctx, invoice)


def switch_price(
    ctx: Ctx, sub: Obj, item: Obj, price: Obj, *, quantity: int | None, proration_behavior: str
) -> None:
    before = copy.deepcopy(sub)
    switch = apply_switch(
        ctx, sub, item, price, quantity=quantity, proration_behavior=proration_behavior
    )
    ctx.events.updated("customer.subscription.updated", before, sub)
    bill_switch(ctx, sub, switch)


def _half_up(amount: float) -> int:
    return int(amount + 0.5)


def _proration(
    ctx: Ctx,
    sub: Obj,
    item: Obj,
    price: Obj,
    quantity: int,
    amount: int,
    label: str,
    start: int,
    end: int,
) -> Obj:
    name = invoicing.product_name(ctx, price)
    return ctx.store.add(
        shapes.invoice_item(
            ctx,
            customer=sub["customer"],
            subscription=sub,
            subscription_item=item["id"],
            price_obj=price,
            amount=amount,
            quantity=quantity,
            description=f"{label} {quantity} × {name} after {day(start)}",  # noqa: RUF001
            start=start,
            end=end,
            proration=True,
        )
    )
