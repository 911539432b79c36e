"""Invoice previews (``POST /v1/invoices/create_preview``): what a change would bill.

Stripe answers with the invoice the change would bring, without changing
anything: with ``always_invoice``, or a price of another interval (the
billing cycle restarts), the invoice billed at once; otherwise the
subscription's next invoice, at the period's end, with the change's
prorations pulled in. The emulator computes it by making the change on a
copy of its state, silently, and keeps only the invoice: the engine that
bills a real change prices the preview, so the two always agree.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import changes, invoicing, lifecycle
from fiko_billing.emulator.events import EventLog
from fiko_billing.emulator.store import Obj

#: Stripe names a preview invoice ``upcoming_in_…``: it can be neither retrieved nor paid.
PREVIEW_PREFIX = "upcoming_"


@dataclass(frozen=True)
class Swap:
    """One ``subscription_details.items`` entry: a subscription item and its new price."""

    item_id: str
    price: Obj
    quantity: int | None


@contextmanager
def _scratch(ctx: Ctx) -> Iterator[Ctx]:
    """A context on a copy of the state whose events go nowhere; the state is put back after."""
    store = ctx.store
    objects, private = store.objects, store.private
    store.objects, store.private = copy.deepcopy(objects), copy.deepcopy(private)
    try:
        yield Ctx(store, EventLog(store))
    finally:
        store.objects, store.private = objects, private


def preview(
    ctx: Ctx,
    subscription_id: str,
    swaps: list[Swap],
    *,
    proration_behavior: str,
    proration_date: int | None = None,
) -> Obj:
    """The invoice ``swaps`` would bring for the subscription, shaped as Stripe previews it."""
    with _scratch(ctx) as scratch:
        sub = scratch.store.get("subscription", subscription_id)
        assert sub is not None  # noqa: S101 - the caller fetched it
        with scratch.store.clock.pinned(proration_date or scratch.now()):
            invoice = _bill(scratch, sub, swaps, proration_behavior)
        invoice = copy.deepcopy(invoice)
    return _as_preview(invoice)


def _bill(ctx: Ctx, sub: Obj, swaps: list[Swap], proration_behavior: str) -> Obj:
    due_now: changes.Switch | None = None
    for swap in swaps:
        item = next(i for i in sub["items"]["data"] if i["id"] == swap.item_id)
        switch = changes.apply_switch(
            ctx,
            sub,
            item,
            swap.price,
            quantity=swap.quantity,
            proration_behavior=proration_behavior,
        )
        if switch.invoice_id is not None:
            due_now = switch
    if due_now is not None and due_now.invoice_id is not None:
        return invoicing.draft(
            ctx,
            sub,
            billing_reason="subscription_update",
            invoice_id=due_now.invoice_id,
            include_subscription_lines=due_now.new_cycle,
        )
    # Nothing billed now: the next invoice, drawn at the period's end.
    with ctx.store.clock.pinned(lifecycle.period_of(sub)[1]):
        return lifecycle.renew(ctx, sub)


def _as_preview(invoice: Obj) -> Obj:
    preview_id = PREVIEW_PREFIX + invoice["id"]
    invoice["id"] = preview_id
    invoice["lines"]["url"] = f"/v1/invoices/{preview_id}/lines"
    for line in invoice["lines"]["data"]:
        line["invoice"] = preview_id
    # Stripe reserves "upcoming" for previews; a preview is never finalized or charged.
    invoice["billing_reason"] = "upcoming"
    invoice["automatically_finalizes_at"] = None
    return invoice
