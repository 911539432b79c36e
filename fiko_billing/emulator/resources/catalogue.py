"""``/v1/products`` and ``/v1/prices``."""

from __future__ import annotations

import copy

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.params import (
    LIST_PARAMS,
    Bool,
    Currency,
    Enum,
    Hash,
    Int,
    IntOrRange,
    List,
    Metadata,
    Str,
    merge_metadata,
    need,
)
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.shapes import catalogue as shapes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import invalid

from .common import created_matches, fetch, listing

routes = Routes()

PRODUCT_FIELDS = {
    "active": Bool(),
    "description": Str(empty_unsets=True),
    "images": List(Str(), max_items=8),
    "metadata": Metadata(),
    "statement_descriptor": Str(max_length=22, empty_unsets=True),
    "tax_code": Str(empty_unsets=True),
    "unit_label": Str(max_length=12, empty_unsets=True),
    "url": Str(empty_unsets=True),
}


@routes.post("/v1/products", Hash(PRODUCT_FIELDS, id=Str(), name=Str().req()))
def create_product(ctx: Ctx, call: Call) -> Obj:
    params = dict(call.params)
    if params.get("id") and ctx.store.get("product", params["id"]) is not None:
        raise invalid(
            f"Product already exists: {params['id']}", param="id", code="resource_already_exists"
        )
    params["metadata"] = merge_metadata({}, params.get("metadata"))
    product = ctx.store.add(shapes.product(ctx, params))
    ctx.events.emit("product.created", product)
    return product


@routes.get("/v1/products/{id}")
def retrieve_product(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "product", call.arg("id"))


@routes.post("/v1/products/{id}", Hash(PRODUCT_FIELDS, name=Str(), default_price=Str()))
def update_product(ctx: Ctx, call: Call) -> Obj:
    product = fetch(ctx, "product", call.arg("id"))
    before = copy.deepcopy(product)
    params = call.params
    for field in (
        "active",
        "description",
        "images",
        "name",
        "statement_descriptor",
        "tax_code",
        "unit_label",
        "url",
    ):
        if field in params:
            product[field] = params[field]
    if "metadata" in params:
        product["metadata"] = merge_metadata(product["metadata"], params["metadata"])
    if "default_price" in params:
        price = fetch(ctx, "price", params["default_price"], param="default_price")
        if price["product"] != product["id"]:
            raise invalid("The default price must belong to this product.", param="default_price")
        product["default_price"] = price["id"]
    if product != before:
        product["updated"] = ctx.now()
    ctx.events.updated("product.updated", before, product)
    return product


@routes.get(
    "/v1/products",
    Hash(LIST_PARAMS, active=Bool(), ids=List(Str()), created=IntOrRange()),
)
def list_products(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    items = [
        p
        for p in ctx.store.all("product")
        if ("active" not in params or p["active"] == params["active"])
        and ("ids" not in params or p["id"] in params["ids"])
        and created_matches(p["created"], params.get("created"))
    ]
    return listing(ctx, call, "product", items)


RECURRING = Hash(
    interval=Enum("day", "week", "month", "year").req(),
    interval_count=Int(minimum=1, maximum=36),
    usage_type=Enum("licensed"),
)
PRICE_MUTABLE = {
    "active": Bool(),
    "lookup_key": Str(max_length=200, empty_unsets=True),
    "metadata": Metadata(),
    "nickname": Str(empty_unsets=True),
    "tax_behavior": Enum("exclusive", "inclusive", "unspecified"),
    "transfer_lookup_key": Bool(),
}


@routes.post(
    "/v1/prices",
    Hash(
        PRICE_MUTABLE,
        currency=Currency().req(),
        product=Str(),
        product_data=Hash(name=Str().req(), active=Bool(), metadata=Metadata()),
        recurring=RECURRING,
        unit_amount=Int(minimum=0),
        billing_scheme=Enum("per_unit"),
    ),
)
def create_price(ctx: Ctx, call: Call) -> Obj:
    params = dict(call.params)
    need(params, ["unit_amount"])
    if "product" in params and "product_data" in params:
        raise invalid(
            "You may only specify one of these parameters: product, product_data.",
            param="product",
        )
    if "product_data" not in params:
        need(params, ["product"])
        product = fetch(ctx, "product", params["product"], param="product")
    _claim_lookup_key(ctx, params.get("lookup_key"), params.get("transfer_lookup_key", False))
    if "product_data" in params:
        data = dict(params["product_data"])
        data["metadata"] = merge_metadata({}, data.get("metadata"))
        product = ctx.store.add(shapes.product(ctx, data))
        ctx.events.emit("product.created", product)
    params["metadata"] = merge_metadata({}, params.get("metadata"))
    price = ctx.store.add(shapes.price(ctx, params, product["id"]))
    ctx.events.emit("price.created", price)
    return price


@routes.get("/v1/prices/{id}")
def retrieve_price(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "price", call.arg("id"))


@routes.post("/v1/prices/{id}", Hash(PRICE_MUTABLE))
def update_price(ctx: Ctx, call: Call) -> Obj:
    price = fetch(ctx, "price", call.arg("id"))
    before = copy.deepcopy(price)
    params = call.params
    if "lookup_key" in params and params["lookup_key"] != price["lookup_key"]:
        _claim_lookup_key(ctx, params["lookup_key"], params.get("transfer_lookup_key", False))
        price["lookup_key"] = params["lookup_key"]
    for field in ("active", "nickname", "tax_behavior"):
        if field in params:
            price[field] = params[field]
    if "metadata" in params:
        price["metadata"] = merge_metadata(price["metadata"], params["metadata"])
    ctx.events.updated("price.updated", before, price)
    return price


@routes.get(
    "/v1/prices",
    Hash(
        LIST_PARAMS,
        active=Bool(),
        currency=Str(),
        lookup_keys=List(Str(), max_items=10),
        product=Str(),
        type=Enum("one_time", "recurring"),
        created=IntOrRange(),
        recurring=Hash(interval=Enum("day", "week", "month", "year")),
    ),
)
def list_prices(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    interval = (params.get("recurring") or {}).get("interval")
    items = [
        p
        for p in ctx.store.all("price")
        if ("active" not in params or p["active"] == params["active"])
        and ("currency" not in params or p["currency"] == params["currency"].lower())
        and ("lookup_keys" not in params or p["lookup_key"] in params["lookup_keys"])
        and ("product" not in params or p["product"] == params["product"])
        and ("type" not in params or p["type"] == params["type"])
        and (interval is None or (p["recurring"] or {}).get("interval") == interval)
        and created_matches(p["created"], params.get("created"))
    ]
    return listing(ctx, call, "price", items)


def _claim_lookup_key(ctx: Ctx, lookup_key: str | None, transfer: bool) -> None:
    """A lookup key names one price; ``transfer_lookup_key`` moves it from its holder."""
    if lookup_key is None:
        return
    for other in ctx.store.iter("price"):
        if other["lookup_key"] != lookup_key:
            continue
        if not transfer:
            raise invalid(
                f"A price (`{other['id']}`) already uses that lookup key.",
                param="lookup_key",
            )
        before = copy.deepcopy(other)
        other["lookup_key"] = None
        ctx.events.updated("price.updated", before, other)
