"""Subscription invoices: draft, finalize, pay, retry.

Amounts are approximated the way a simple Stripe account computes them: one
line per subscription item, pending proration items pulled in, the
subscription's coupons applied to discountable lines, the customer's credit
balance used first. No taxes.
"""

from __future__ import annotations

import copy

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.currencies import too_small
from fiko_billing.emulator.engine import charging, discounting
from fiko_billing.emulator.engine.discounting import active_discounts
from fiko_billing.emulator.formatting import money
from fiko_billing.emulator.shapes import billing as shapes
from fiko_billing.emulator.shapes.discounts import amount_off
from fiko_billing.emulator.store import Obj


def product_name(ctx: Ctx, price: Obj) -> str:
    product = ctx.store.get("product", price["product"]) or {}
    return str(product.get("name") or price["id"])


def draft(
    ctx: Ctx,
    subscription: Obj,
    *,
    billing_reason: str,
    invoice_id: str | None = None,
    include_subscription_lines: bool = True,
    usage_period: tuple[int, int] | None = None,
) -> Obj:
    """A draft invoice for a subscription, announced with ``invoice.created``.

    ``period_start``/``period_end`` of an invoice bound the invoice items it
    may take (``usage_period``: the period that just ended, for a renewal);
    each line carries the service period it bills.
    """
    customer = ctx.store.get("customer", subscription["customer"]) or {
        "id": subscription["customer"]
    }
    now = ctx.now()
    period_start, period_end = usage_period or (now, now)
    invoice_id = invoice_id or ctx.new_id("in")
    invoice = shapes.invoice(
        ctx,
        invoice_id=invoice_id,
        customer=customer,
        currency=subscription["currency"],
        billing_reason=billing_reason,
        subscription=subscription,
        period_start=period_start,
        period_end=period_end,
    )
    pending = [
        ii
        for ii in ctx.store.iter("invoiceitem")
        if ii["invoice"] is None
        and ii["parent"]["subscription_details"]["subscription"] == subscription["id"]
    ]
    # Stripe's order (the SDK's docstring of Invoice.lines): pending invoice
    # items, prorations included, newest first; then the subscription's items,
    # newest first; then items added after creation (the emulator adds none).
    lines = [_item_line(ctx, invoice_id, subscription, ii) for ii in reversed(pending)]
    if include_subscription_lines:
        for item in reversed(subscription["items"]["data"]):
            lines.append(_subscription_line(ctx, invoice_id, subscription, item))
    invoice["lines"]["data"] = lines
    _apply_discounts(ctx, invoice, subscription)
    _total(ctx, invoice, customer)
    if billing_reason == "subscription_cycle":
        # A renewal stays a draft for an hour (Stripe's default), then is charged.
        invoice["automatically_finalizes_at"] = now + ctx.store.billing.invoice_finalize_delay
        if subscription["status"] == "unpaid":
            # An unpaid subscription's invoices are created but never charged.
            invoice["auto_advance"] = False
            invoice["automatically_finalizes_at"] = None
    ctx.store.add(invoice)
    subscription["latest_invoice"] = invoice_id
    ctx.events.emit("invoice.created", invoice)
    return invoice


def _subscription_line(ctx: Ctx, invoice_id: str, subscription: Obj, item: Obj) -> Obj:
    price = item["price"]
    quantity = item["quantity"]
    return shapes.invoice_line(
        ctx,
        invoice_id=invoice_id,
        amount=int(price["unit_amount"]) * quantity,
        currency=price["currency"],
        description=f"{quantity} × {product_name(ctx, price)} "  # noqa: RUF001
        f"(at {money(price['unit_amount'], price['currency'])} / "
        f"{price['recurring']['interval']})",
        price_obj=price,
        quantity=quantity,
        start=item["current_period_start"],
        end=item["current_period_end"],
        subscription=subscription["id"],
        subscription_item=item["id"],
    )


def _item_line(ctx: Ctx, invoice_id: str, subscription: Obj, ii: Obj) -> Obj:
    ii["invoice"] = invoice_id
    price = ctx.store.get("price", ii["pricing"]["price_details"]["price"]) or {}
    return shapes.invoice_line(
        ctx,
        invoice_id=invoice_id,
        amount=ii["amount"],
        currency=ii["currency"],
        description=ii["description"],
        price_obj=price,
        quantity=ii["quantity"],
        start=ii["period"]["start"],
        end=ii["period"]["end"],
        subscription=subscription["id"],
        subscription_item=ii["parent"]["subscription_details"]["subscription_item"],
        invoice_item=ii["id"],
        proration=ii["proration"],
        credited_items=ctx.store.hidden(ii["id"]).get("credited_items"),
    )


def credited_lines(ctx: Ctx, subscription_item: str) -> Obj | None:
    """``proration_details.credited_items`` of a credit for a subscription item's unused time:
    the lines of the latest invoice that billed the item itself."""
    for invoice in ctx.store.all("invoice"):
        lines = []
        for line in invoice["lines"]["data"]:
            details = line["parent"]["subscription_item_details"]
            if (
                details
                and details["subscription_item"] == subscription_item
                and not details["proration"]
            ):
                lines.append(line["id"])
        if lines:
            return {"invoice": invoice["id"], "invoice_line_items": lines}
    return None


def billed_amount(
    ctx: Ctx, credited: Obj | None, price_id: str, period: tuple[int, int]
) -> int | None:
    """What the credited lines billed for this price and period, after discounts."""
    if credited is None:
        return None
    invoice = ctx.store.get("invoice", credited["invoice"]) or {"lines": {"data": []}}
    total = None
    for line in invoice["lines"]["data"]:
        if line["id"] not in credited["invoice_line_items"]:
            continue
        same = line["pricing"]["price_details"]["price"] == price_id and (
            line["period"]["start"],
            line["period"]["end"],
        ) == tuple(period)
        if not same:
            return None
        net = line["amount"] - sum(d["amount"] for d in line["discount_amounts"])
        total = (total or 0) + net
    return total


def _apply_discounts(ctx: Ctx, invoice: Obj, subscription: Obj) -> None:
    totals: dict[str, int] = {}
    for discount in active_discounts(ctx, subscription, invoice):
        coupon = ctx.store.get("coupon", discount["source"]["coupon"])
        if coupon is None:
            continue
        for line in invoice["lines"]["data"]:
            if not line["discountable"]:
                continue
            already = sum(d["amount"] for d in line["discount_amounts"])
            cut = amount_off(coupon, line["amount"] - already)
            line["discount_amounts"].append({"amount": cut, "discount": discount["id"]})
            line["discounts"].append(discount["id"])
            totals[discount["id"]] = totals.get(discount["id"], 0) + cut
        invoice["discounts"].append(discount["id"])
        discounting.applied(ctx, discount, invoice)
    invoice["total_discount_amounts"] = [
        {"amount": amount, "discount": discount_id} for discount_id, amount in totals.items()
    ]


def _total(ctx: Ctx, invoice: Obj, customer: Obj) -> None:
    subtotal = sum(line["amount"] for line in invoice["lines"]["data"])
    discount = sum(d["amount"] for d in invoice["total_discount_amounts"])
    total = subtotal - discount
    balance = int(customer.get("balance") or 0)
    due = total + balance
    invoice["subtotal"] = invoice["subtotal_excluding_tax"] = subtotal
    invoice["total"] = invoice["total_excluding_tax"] = total
    invoice["starting_balance"] = balance
    invoice["amount_due"] = max(0, due)
    invoice["amount_remaining"] = max(0, due)


def finalize(ctx: Ctx, invoice: Obj) -> None:
    customer = ctx.store.get("customer", invoice["customer"])
    before = copy.deepcopy(customer) if customer else None
    if customer is not None and not customer.get("deleted"):
        sequence = customer["next_invoice_sequence"]
        invoice["number"] = f"{customer['invoice_prefix']}-{sequence:04d}"
        customer["next_invoice_sequence"] = sequence + 1
        # The credit balance is used up by this invoice. Below the currency's
        # minimum charge nothing is charged: the customer owes it on the next one.
        due = invoice["total"] + invoice["starting_balance"]
        if too_small(due, invoice["currency"]):
            invoice["amount_due"] = invoice["amount_remaining"] = 0
            invoice["ending_balance"] = customer["balance"] = due
        else:
            invoice["ending_balance"] = customer["balance"] = min(0, due)
    invoice["status"] = "open"
    invoice["automatically_finalizes_at"] = None
    invoice["effective_at"] = ctx.now()
    invoice["status_transitions"]["finalized_at"] = ctx.now()
    invoice["hosted_invoice_url"] = f"{ctx.base_url}/invoice/{invoice['id']}"
    invoice["webhooks_delivered_at"] = ctx.now()
    ctx.events.emit("invoice.finalized", invoice)
    if customer is not None and before is not None and customer["balance"] != before["balance"]:
        ctx.events.updated("customer.updated", before, customer)


def collect(
    ctx: Ctx, invoice: Obj, pm: Obj | None, *, off_session: bool, authenticated: bool = False
) -> charging.Outcome | None:
    """Pay an open invoice with ``pm``; None when nothing was due (paid at once)."""
    if invoice["amount_due"] == 0:
        _mark_paid(ctx, invoice, copy.deepcopy(invoice))
        return None
    before = copy.deepcopy(invoice)
    if pm is None:
        _attempt_failed(ctx, invoice, before)
        return None
    pi = intent_for(ctx, invoice)
    outcome = charging.confirm(ctx, pi, pm, off_session=off_session, authenticated=authenticated)
    if outcome.ok:
        paid(ctx, invoice, pi, before)
    elif outcome.status == charging.REQUIRES_ACTION:
        ctx.events.emit("invoice.payment_action_required", invoice)
        _attempt_failed(ctx, invoice, before)
    else:
        _attempt_failed(ctx, invoice, before)
    return outcome


def payments_of(ctx: Ctx, invoice_id: str) -> list[Obj]:
    """The invoice's payments, oldest first (``invoice.payments`` is includable only)."""
    return [p for p in ctx.store.iter("invoice_payment") if p["invoice"] == invoice_id]


def open_intent(ctx: Ctx, invoice: Obj) -> Obj | None:
    """The payment intent of the invoice's open payment: a retry reuses it."""
    for payment in payments_of(ctx, invoice["id"]):
        if payment["status"] == "open":
            return ctx.store.get("payment_intent", payment["payment"]["payment_intent"])
    return None


def intent_for(ctx: Ctx, invoice: Obj) -> Obj:
    """The payment intent that pays this invoice: its open one, or a new one (and its
    invoice payment, ``open`` until the intent succeeds)."""
    pi = open_intent(ctx, invoice)
    if pi is None:
        pi = charging.new_intent(
            ctx,
            amount=invoice["amount_remaining"],
            currency=invoice["currency"],
            customer=invoice["customer"],
            description="Subscription creation"
            if invoice["billing_reason"] == "subscription_create"
            else "Subscription update",
        )
        ctx.store.add(shapes.invoice_payment(ctx, invoice, pi["id"]))
    return pi


def _payment_for(ctx: Ctx, invoice: Obj, pi_id: str) -> Obj:
    for payment in payments_of(ctx, invoice["id"]):
        if payment["payment"]["payment_intent"] == pi_id:
            return payment
    raise LookupError(pi_id)


def paid(ctx: Ctx, invoice: Obj, pi: Obj, before: Obj) -> None:
    """The invoice's payment intent succeeded: its invoice payment is paid, then the invoice."""
    payment = _payment_for(ctx, invoice, pi["id"])
    payment["status"] = "paid"
    payment["amount_paid"] = invoice["amount_due"]
    payment["status_transitions"]["paid_at"] = ctx.now()
    ctx.events.emit("invoice_payment.paid", payment)
    _mark_paid(ctx, invoice, before)


def _mark_paid(ctx: Ctx, invoice: Obj, before: Obj) -> None:
    invoice["status"] = "paid"
    invoice["amount_paid"] = invoice["amount_due"]
    invoice["amount_remaining"] = 0
    invoice["attempted"] = True
    invoice["attempt_count"] += 1 if invoice["amount_due"] else 0
    invoice["next_payment_attempt"] = None
    invoice["status_transitions"]["paid_at"] = ctx.now()
    ctx.events.updated("invoice.updated", before, invoice)
    ctx.events.emit("invoice.paid", invoice)
    ctx.events.emit("invoice.payment_succeeded", invoice)


def _attempt_failed(ctx: Ctx, invoice: Obj, before: Obj) -> None:
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    hidden = ctx.store.hidden(invoice["id"])
    first = hidden.setdefault("first_failed_at", ctx.now())
    invoice["next_payment_attempt"] = ctx.store.billing.next_attempt(
        first, invoice["attempt_count"]
    )
    ctx.events.emit("invoice.payment_failed", invoice)
    ctx.events.updated("invoice.updated", before, invoice)
