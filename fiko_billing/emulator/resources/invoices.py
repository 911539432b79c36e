"""``/v1/invoices`` (read only, and previews), their lines, and ``/v1/invoice_payments``."""

from __future__ import annotations

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import lifecycle
from fiko_billing.emulator.engine.preview import Swap, preview
from fiko_billing.emulator.params import (
    LIST_PARAMS,
    Bool,
    Enum,
    Hash,
    Int,
    IntOrRange,
    List,
    Str,
)
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import StripeError, invalid

from .common import created_matches, fetch, listing
from .subscriptions import item_change

routes = Routes()


def subscription_of(invoice: Obj) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription")


@routes.post(
    "/v1/invoices/create_preview",
    Hash(
        customer=Str(),
        subscription=Str(),
        subscription_details=Hash(
            items=List(Hash(id=Str(), price=Str(), quantity=Int(minimum=1), deleted=Bool())),
            proration_behavior=Enum("always_invoice", "create_prorations", "none"),
            proration_date=Int(),
        ),
    ),
)
def create_preview(ctx: Ctx, call: Call) -> Obj:
    """The invoice a subscription's change would bring (its next one without a change)."""
    params = call.params
    if "subscription" not in params:
        # Stripe previews invoice items or a new subscription too; the emulator
        # previews changes to an existing subscription only.
        raise StripeError(
            400,
            "No upcoming invoices for customer: the emulator previews a subscription's "
            "invoices only; pass subscription.",
            code="invoice_upcoming_none",
        )
    sub = fetch(ctx, "subscription", params["subscription"], param="subscription")
    if params.get("customer") not in (None, sub["customer"]):
        raise invalid(
            f"The subscription {sub['id']} does not belong to the customer {params['customer']}.",
            param="customer",
        )
    if sub["status"] not in lifecycle.LIVE:
        raise StripeError(
            400,
            f"No upcoming invoices for the subscription {sub['id']}: it has ended.",
            code="invoice_upcoming_none",
        )
    details = params.get("subscription_details") or {}
    swaps = [
        _swap(ctx, sub, index, change) for index, change in enumerate(details.get("items") or [])
    ]
    return preview(
        ctx,
        sub["id"],
        [s for s in swaps if s is not None],
        proration_behavior=details.get("proration_behavior", "create_prorations"),
        proration_date=details.get("proration_date"),
    )


def _swap(ctx: Ctx, sub: Obj, index: int, change: Obj) -> Swap | None:
    item, price, quantity = item_change(ctx, sub, index, change, prefix="subscription_details")
    if price["id"] == item["price"]["id"] and quantity in (None, item["quantity"]):
        return None
    return Swap(item["id"], price, quantity)


@routes.get("/v1/invoices/{id}")
def retrieve(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "invoice", call.arg("id"))


@routes.get(
    "/v1/invoices",
    Hash(
        LIST_PARAMS,
        customer=Str(),
        subscription=Str(),
        status=Enum("draft", "open", "paid", "uncollectible", "void"),
        collection_method=Enum("charge_automatically", "send_invoice"),
        created=IntOrRange(),
    ),
)
def list_(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    items = [
        inv
        for inv in ctx.store.all("invoice")
        if params.get("customer") in (None, inv["customer"])
        and params.get("subscription") in (None, subscription_of(inv))
        and params.get("status") in (None, inv["status"])
        and params.get("collection_method") in (None, inv["collection_method"])
        and created_matches(inv["created"], params.get("created"))
    ]
    return listing(ctx, call, "invoice", items)


@routes.get("/v1/invoices/{id}/lines", Hash(LIST_PARAMS))
def lines(ctx: Ctx, call: Call) -> Obj:
    invoice = fetch(ctx, "invoice", call.arg("id"))
    return listing(ctx, call, "line item", list(invoice["lines"]["data"]))


@routes.get(
    "/v1/invoice_payments",
    Hash(
        LIST_PARAMS,
        invoice=Str(),
        payment=Hash(
            type=Enum("payment_intent", "payment_record").req(),
            payment_intent=Str(),
            payment_record=Str(),
        ),
        status=Enum("canceled", "open", "paid"),
        created=IntOrRange(),
    ),
)
def list_payments(ctx: Ctx, call: Call) -> Obj:
    """Filtered by invoice, or by payment intent: a charge's way back to its invoice."""
    params = call.params
    payment = params.get("payment") or {}
    items = [
        p
        for p in ctx.store.all("invoice_payment")
        if params.get("invoice") in (None, p["invoice"])
        and params.get("status") in (None, p["status"])
        and payment.get("type") in (None, p["payment"]["type"])
        and payment.get("payment_intent") in (None, p["payment"].get("payment_intent"))
        and payment.get("payment_record") in (None, p["payment"].get("payment_record"))
        and created_matches(p["created"], params.get("created"))
    ]
    return listing(ctx, call, "invoice payment", items)


@routes.get("/v1/invoice_payments/{id}")
def retrieve_payment(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "invoice_payment", call.arg("id"))
