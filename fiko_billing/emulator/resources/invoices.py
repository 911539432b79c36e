"""``/v1/invoices`` (read only), their lines, and ``/v1/invoice_payments``."""

from __future__ import annotations

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.params import LIST_PARAMS, Enum, Hash, IntOrRange, Str
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.store import Obj

from .common import created_matches, fetch, listing

routes = Routes()


def subscription_of(invoice: Obj) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription")


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
