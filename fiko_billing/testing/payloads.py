"""Stripe objects in the shape of the pinned API version, for stub servers and webhook tests.

Every object comes from the emulator's shape builders, the same code that
answers the emulator's API and writes its events, so a test payload cannot
drift into a shape that only our handlers expect: the conformance checks
(``fiko_billing.testing.conformance``) hold those builders to the stripe
SDK's types, and to the SDK's rules for what a webhook carries (an invoice
has no ``payments`` there). Each builder returns a plain ``dict`` as
Stripe's JSON would decode; keyword arguments override top-level fields.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import time
from typing import Any

from fiko_billing.api_version import PINNED_API_VERSION
from fiko_billing.emulator.cards import saved_card
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.events import EventLog
from fiko_billing.emulator.shapes import balance as balance_shapes
from fiko_billing.emulator.shapes import billing as billing_shapes
from fiko_billing.emulator.shapes import catalogue as catalogue_shapes
from fiko_billing.emulator.shapes import checkout as checkout_shapes
from fiko_billing.emulator.shapes import customers as customer_shapes
from fiko_billing.emulator.shapes import events as event_shapes
from fiko_billing.emulator.shapes import payments as payment_shapes
from fiko_billing.emulator.shapes import portal as portal_shapes
from fiko_billing.emulator.store import Store
from fiko_billing.emulator.wire import StripeError, list_object

Obj = dict[str, Any]

_counter = itertools.count(1)
DAY = 86_400


def stripe_id(prefix: str) -> str:
    """A fresh id that looks like Stripe's (``cus_…``, ``cs_test_…``)."""
    return f"{prefix}_{secrets.token_hex(7)}{next(_counter):04d}"


def _now() -> int:
    return int(time.time())


def _ctx(at: int | None = None, base_url: str = "https://checkout.stripe.com") -> Ctx:
    """A context for one object: the shape builders' clock stands at ``at``."""
    store = Store()
    store.clock.frozen_at = _now() if at is None else at
    store.base_url = base_url
    return Ctx(store, EventLog(store))


def _with(obj: Obj, overrides: dict[str, Any]) -> Obj:
    obj.update(overrides)
    return obj


# ---------------------------------------------------------------------- customers, catalogue


def customer(**overrides: Any) -> Obj:
    obj = customer_shapes.customer(_ctx(), {"email": "customer@example.com"})
    obj["id"] = stripe_id("cus")
    return _with(obj, overrides)


def deleted_customer(customer_id: str) -> Obj:
    return customer_shapes.deleted({"id": customer_id, "object": "customer"})


def product(**overrides: Any) -> Obj:
    return _with(
        catalogue_shapes.product(_ctx(), {"id": stripe_id("prod"), "name": "Product"}), overrides
    )


def price(
    *,
    product_id: str,
    unit_amount: int,
    currency: str = "usd",
    interval: str | None = None,
    **overrides: Any,
) -> Obj:
    params: dict[str, Any] = {"unit_amount": unit_amount, "currency": currency}
    if interval is not None:
        params["recurring"] = {"interval": interval, "interval_count": 1}
    obj = catalogue_shapes.price(_ctx(), params, product_id)
    obj["id"] = stripe_id("price")
    return _with(obj, overrides)


# ---------------------------------------------------------------------- subscriptions


def subscription_item(
    *, price_obj: Obj, subscription_id: str, start: int, end: int, quantity: int = 1
) -> Obj:
    item = billing_shapes.subscription_item(
        _ctx(start), subscription_id, price_obj, quantity, start, end
    )
    item["id"] = stripe_id("si")
    return item


def subscription(
    *,
    customer_id: str,
    price_obj: Obj,
    status: str = "active",
    start: int | None = None,
    end: int | None = None,
    quantity: int = 1,
    **overrides: Any,
) -> Obj:
    """A subscription; since 2025-03-31 its period lives on each item."""
    start = _now() if start is None else start
    if end is None:
        interval = (price_obj.get("recurring") or {}).get("interval", "month")
        end = start + (365 if interval == "year" else 30) * DAY
    sub_id = overrides.pop("id", None) or stripe_id("sub")
    item = subscription_item(
        price_obj=price_obj, subscription_id=sub_id, start=start, end=end, quantity=quantity
    )
    obj = billing_shapes.subscription(
        _ctx(start),
        sub_id=sub_id,
        customer=customer_id,
        currency=price_obj["currency"],
        items=[item],
        payment_method=None,
        metadata={},
    )
    obj["status"] = status
    return _with(obj, overrides)


# ---------------------------------------------------------------------- invoices


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
        _ctx(start),
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
    period_start = _now() if period_start is None else period_start
    period_end = period_start + 30 * DAY if period_end is None else period_end
    invoice_id = overrides.pop("id", None) or stripe_id("in")
    ctx = _ctx(period_start, base_url="https://invoice.stripe.com")
    parent = None if subscription_id is None else {"id": subscription_id, "metadata": {}}
    # An invoice's own period bounds the items it takes: the period that ended
    # for a renewal, the moment of creation otherwise.
    used = (period_start - (period_end - period_start), period_start)
    obj = billing_shapes.invoice(
        ctx,
        invoice_id=invoice_id,
        customer={"id": customer_id, "email": "customer@example.com"},
        currency=price_obj["currency"],
        billing_reason=billing_reason,
        subscription=parent,
        period_start=used[0] if billing_reason == "subscription_cycle" else period_start,
        period_end=used[1] if billing_reason == "subscription_cycle" else period_start,
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
    obj["lines"] = list_object(lines, f"/v1/invoices/{invoice_id}/lines")
    total = sum(line["amount"] for line in lines)
    obj.update(
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
        amount_due=max(total, 0),
        amount_remaining=max(total, 0),
    )
    if status != "draft":
        obj.update(
            status="open",
            number=f"FIKO0001-{next(_counter):04d}",
            effective_at=period_start,
            ending_balance=0,
            hosted_invoice_url=f"https://invoice.stripe.com/i/{invoice_id}",
            webhooks_delivered_at=period_start,
        )
        obj["status_transitions"]["finalized_at"] = period_start
    if status == "paid":
        obj.update(
            status="paid",
            amount_paid=obj["amount_due"],
            amount_remaining=0,
            attempted=True,
            attempt_count=1,
        )
        obj["status_transitions"]["paid_at"] = period_start
    elif status in ("void", "uncollectible"):
        obj["status"] = status
    return _with(obj, overrides)


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
    ctx = _ctx()
    invoice_like = {"id": invoice_id, "amount_due": amount, "currency": currency}
    obj = billing_shapes.invoice_payment(ctx, invoice_like, payment_intent)
    obj["id"] = stripe_id("inpay")
    if status == "paid":
        obj.update(status="paid", amount_paid=amount)
        obj["status_transitions"]["paid_at"] = obj["created"]
    else:
        obj["status"] = status
    return _with(obj, overrides)


# ---------------------------------------------------------------------- checkout and portal


def checkout_session(
    *,
    mode: str = "payment",
    status: str = "open",
    payment_status: str = "unpaid",
    customer_id: str | None = None,
    amount_total: int = 500,
    currency: str = "usd",
    metadata: dict[str, str] | None = None,
    **overrides: Any,
) -> Obj:
    params = {
        "mode": mode,
        "allow_promotion_codes": True,
        "success_url": "https://example.com/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://example.com/cancel",
        "metadata": dict(metadata or {}),
        "customer": customer_id,
    }
    obj = checkout_shapes.session(_ctx(), params, currency=currency, subtotal=amount_total)
    session_id = overrides.pop("id", None) or obj["id"]
    obj.update(
        id=session_id,
        status=status,
        payment_status=payment_status,
        customer=customer_id,
        url=f"https://checkout.stripe.com/c/pay/{session_id}" if status == "open" else None,
    )
    return _with(obj, overrides)


def portal_session(*, customer_id: str, return_url: str, **overrides: Any) -> Obj:
    obj = portal_shapes.portal_session(
        _ctx(base_url="https://billing.stripe.com"),
        customer=customer_id,
        return_url=return_url,
        configuration=stripe_id("bpc"),
    )
    session_id = overrides.pop("id", None) or obj["id"]
    obj.update(id=session_id, url=f"https://billing.stripe.com/p/session/{session_id}")
    return _with(obj, overrides)


def webhook_endpoint(*, url: str, enabled_events: list[str], **overrides: Any) -> Obj:
    """A webhook endpoint as listed (its ``secret`` is only in the create answer)."""
    obj = portal_shapes.webhook_endpoint(
        _ctx(), {"url": url, "enabled_events": enabled_events, "description": "fiko-billing"}
    )
    obj["id"] = stripe_id("we")
    return _with(obj, overrides)


# ---------------------------------------------------------------------- payments


def charge(
    *,
    amount: int,
    payment_intent: str | None = None,
    amount_refunded: int = 0,
    currency: str = "usd",
    **overrides: Any,
) -> Obj:
    """A successful card charge (4242), refunded by ``amount_refunded`` so far."""
    ctx = _ctx()
    pi = payment_shapes.payment_intent(ctx, amount=amount, currency=currency, customer=None)
    card = saved_card("4242424242424242", 12, 2034)
    pm = customer_shapes.payment_method(ctx, card, email=None, name=None)
    obj = payment_shapes.charge(ctx, pi, pm, card, None, authenticated=False)
    obj.update(
        id=overrides.pop("id", None) or stripe_id("ch"),
        payment_intent=payment_intent,
        balance_transaction=stripe_id("txn"),
        amount_refunded=amount_refunded,
        refunded=amount_refunded >= amount,
    )
    return _with(obj, overrides)


def dispute(
    *, charge_id: str, amount: int, payment_intent: str | None = None, **overrides: Any
) -> Obj:
    """A card chargeback as ``charge.dispute.created`` carries it (``needs_response``)."""
    charge_like = {
        "id": charge_id,
        "currency": overrides.pop("currency", "usd"),
        "payment_intent": payment_intent,
        "payment_method_details": {"card": {"brand": "visa"}},
    }
    obj = balance_shapes.dispute(_ctx(), charge_like, amount=amount, reason="fraudulent")
    obj["id"] = overrides.pop("id", None) or stripe_id("du")
    return _with(obj, overrides)


# ---------------------------------------------------------------------- envelopes


def error(
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    decline_code: str | None = None,
) -> Obj:
    """Stripe's error body."""
    failure = StripeError(
        400, message, type=type, code=code, param=param, decline_code=decline_code
    )
    return failure.body(stripe_id("req"))


def list_of(items: list[Obj], *, url: str, has_more: bool = False) -> Obj:
    page = list_object(items, url)
    page["has_more"] = has_more
    return page


def event(
    event_type: str,
    obj: Obj,
    *,
    created: int | None = None,
    previous_attributes: Obj | None = None,
    api_version: str = PINNED_API_VERSION,
    **overrides: Any,
) -> Obj:
    """A Stripe event wrapping a snapshot of ``obj``."""
    body = event_shapes.event(
        overrides.pop("id", None) or stripe_id("evt"),
        event_type,
        obj,
        created=_now() if created is None else created,
        previous=previous_attributes,
        api_version=api_version,
        pending_webhooks=1,
    )
    return _with(body, overrides)
