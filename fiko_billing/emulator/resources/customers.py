"""``/v1/customers`` and a customer's payment methods."""

from __future__ import annotations

import copy

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import lifecycle
from fiko_billing.emulator.params import (
    LIST_PARAMS,
    Enum,
    Hash,
    Int,
    IntOrRange,
    List,
    Metadata,
    Str,
    merge_metadata,
)
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.shapes import customers as shapes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import missing

from .common import created_matches, fetch, listing

routes = Routes()

ADDRESS = Hash(city=Str(), country=Str(), line1=Str(), line2=Str(), postal_code=Str(), state=Str())
FIELDS = {
    "address": ADDRESS,
    "description": Str(empty_unsets=True),
    "email": Str(max_length=512, empty_unsets=True),
    "metadata": Metadata(),
    "name": Str(max_length=256, empty_unsets=True),
    "phone": Str(max_length=20, empty_unsets=True),
    "preferred_locales": List(Str()),
    "invoice_settings": Hash(default_payment_method=Str(empty_unsets=True)),
}


@routes.post("/v1/customers", Hash(FIELDS, balance=Int(), payment_method=Str()))
def create(ctx: Ctx, call: Call) -> Obj:
    params = dict(call.params)
    params["metadata"] = merge_metadata({}, params.get("metadata"))
    customer = ctx.store.add(shapes.customer(ctx, params))
    ctx.events.emit("customer.created", customer)
    return customer


@routes.get("/v1/customers/{id}")
def retrieve(ctx: Ctx, call: Call) -> Obj:
    found = ctx.store.get("customer", call.arg("id"))
    if found is None:
        raise missing("customer", call.arg("id"))
    return found


@routes.post("/v1/customers/{id}", Hash(FIELDS, balance=Int()))
def update(ctx: Ctx, call: Call) -> Obj:
    customer = fetch(ctx, "customer", call.arg("id"))
    before = copy.deepcopy(customer)
    params = call.params
    for field in ("description", "email", "name", "phone", "balance", "preferred_locales"):
        if field in params:
            customer[field] = params[field]
    if "address" in params:
        customer["address"] = params["address"] or dict(shapes.ADDRESS_NONE)
    if "metadata" in params:
        customer["metadata"] = merge_metadata(customer["metadata"], params["metadata"])
    settings = params.get("invoice_settings") or {}
    if "default_payment_method" in settings:
        pm_id = settings["default_payment_method"]
        if pm_id is not None:
            pm = fetch(
                ctx, "payment_method", pm_id, param="invoice_settings[default_payment_method]"
            )
            if pm["customer"] != customer["id"]:
                raise missing(
                    "payment_method", pm_id, param="invoice_settings[default_payment_method]"
                )
        customer["invoice_settings"]["default_payment_method"] = pm_id
    ctx.events.updated("customer.updated", before, customer)
    return customer


@routes.delete("/v1/customers/{id}", expandable=False)
def delete(ctx: Ctx, call: Call) -> Obj:
    customer = fetch(ctx, "customer", call.arg("id"))
    for sub in ctx.store.all("subscription"):
        if sub["customer"] == customer["id"] and sub["status"] not in (
            "canceled",
            "incomplete_expired",
        ):
            lifecycle.cancel_now(ctx, sub, reason="cancellation_requested")
    tombstone = shapes.deleted(customer)
    ctx.events.emit("customer.deleted", customer)
    ctx.store.add(tombstone)
    return tombstone


@routes.get(
    "/v1/customers",
    Hash(LIST_PARAMS, email=Str(), created=IntOrRange()),
)
def list_(ctx: Ctx, call: Call) -> Obj:
    email = call.params.get("email")
    items = [
        c
        for c in ctx.store.all("customer")
        if not c.get("deleted")
        and (email is None or c["email"] == email)
        and created_matches(c["created"], call.params.get("created"))
    ]
    return listing(ctx, call, "customer", items)


@routes.get(
    "/v1/customers/{id}/payment_methods",
    Hash(LIST_PARAMS, type=Enum("card")),
)
def payment_methods(ctx: Ctx, call: Call) -> Obj:
    customer = fetch(ctx, "customer", call.arg("id"))
    items = [pm for pm in ctx.store.all("payment_method") if pm["customer"] == customer["id"]]
    return listing(ctx, call, "payment_method", items)
