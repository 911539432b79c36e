"""``/v1/coupons`` and ``/v1/promotion_codes`` (``promotion[coupon]`` since clover)."""

from __future__ import annotations

import copy
import re

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.params import (
    LIST_PARAMS,
    Bool,
    Currency,
    Decimal,
    Enum,
    Hash,
    Int,
    IntOrRange,
    Metadata,
    Str,
    merge_metadata,
)
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.shapes import customers as customer_shapes
from fiko_billing.emulator.shapes import discounts as shapes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import invalid

from .common import created_matches, fetch, listing

routes = Routes()

_CODE = re.compile(r"^[A-Za-z0-9_-]{3,200}$")


@routes.post(
    "/v1/coupons",
    Hash(
        id=Str(max_length=200),
        amount_off=Int(minimum=1),
        currency=Currency(),
        percent_off=Decimal(),
        duration=Enum("forever", "once", "repeating"),
        duration_in_months=Int(minimum=1),
        max_redemptions=Int(minimum=1),
        metadata=Metadata(),
        name=Str(max_length=40),
        redeem_by=Int(),
    ),
)
def create_coupon(ctx: Ctx, call: Call) -> Obj:
    params = dict(call.params)
    if ("amount_off" in params) == ("percent_off" in params):
        raise invalid(
            "You must pass exactly one of `amount_off` or `percent_off`.", param="percent_off"
        )
    if "amount_off" in params and "currency" not in params:
        raise invalid("You must pass currency when passing amount_off.", param="currency")
    if "percent_off" in params and not 0 < params["percent_off"] <= 100:
        raise invalid("Percent off must be between 0 and 100.", param="percent_off")
    if params.get("duration") == "repeating" and "duration_in_months" not in params:
        raise invalid(
            "You must pass duration_in_months when duration is repeating.",
            param="duration_in_months",
        )
    if params.get("id") and ctx.store.get("coupon", params["id"]) is not None:
        raise invalid("Coupon already exists.", param="id", code="resource_already_exists")
    params["metadata"] = merge_metadata({}, params.get("metadata"))
    coupon = ctx.store.add(shapes.coupon(ctx, params))
    ctx.events.emit("coupon.created", coupon)
    return coupon


@routes.get("/v1/coupons/{id}")
def retrieve_coupon(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "coupon", call.arg("id"))


@routes.post("/v1/coupons/{id}", Hash(metadata=Metadata(), name=Str(max_length=40)))
def update_coupon(ctx: Ctx, call: Call) -> Obj:
    coupon = fetch(ctx, "coupon", call.arg("id"))
    before = copy.deepcopy(coupon)
    if "name" in call.params:
        coupon["name"] = call.params["name"]
    if "metadata" in call.params:
        coupon["metadata"] = merge_metadata(coupon["metadata"], call.params["metadata"])
    ctx.events.updated("coupon.updated", before, coupon)
    return coupon


@routes.delete("/v1/coupons/{id}", expandable=False)
def delete_coupon(ctx: Ctx, call: Call) -> Obj:
    coupon = fetch(ctx, "coupon", call.arg("id"))
    ctx.events.emit("coupon.deleted", coupon)
    tombstone = customer_shapes.deleted(coupon)
    ctx.store.add(tombstone)
    return tombstone


@routes.get("/v1/coupons", Hash(LIST_PARAMS, created=IntOrRange()))
def list_coupons(ctx: Ctx, call: Call) -> Obj:
    items = [
        c
        for c in ctx.store.all("coupon")
        if not c.get("deleted") and created_matches(c["created"], call.params.get("created"))
    ]
    return listing(ctx, call, "coupon", items)


@routes.post(
    "/v1/promotion_codes",
    Hash(
        promotion=Hash(type=Enum("coupon").req(), coupon=Str().req()).req(),
        code=Str(max_length=500),
        active=Bool(),
        customer=Str(),
        expires_at=Int(),
        max_redemptions=Int(minimum=1),
        metadata=Metadata(),
        restrictions=Hash(
            first_time_transaction=Bool(),
            minimum_amount=Int(minimum=0),
            minimum_amount_currency=Currency(),
        ),
    ),
)
def create_promotion_code(ctx: Ctx, call: Call) -> Obj:
    params = dict(call.params)
    fetch(ctx, "coupon", params["promotion"]["coupon"], param="promotion[coupon]")
    if "customer" in params:
        fetch(ctx, "customer", params["customer"], param="customer")
    code = params.get("code") or ctx.store.ids.token(8).upper()
    if not _CODE.match(code):
        raise invalid(
            "Promotion codes can only contain alphanumeric characters, dashes and underscores.",
            param="code",
        )
    for other in ctx.store.iter("promotion_code"):
        if other["active"] and other["code"].lower() == code.lower():
            raise invalid(
                f"An active promotion code with `code: {code}` already exists.",
                param="code",
                code="resource_already_exists",
            )
    params["metadata"] = merge_metadata({}, params.get("metadata"))
    promo = ctx.store.add(shapes.promotion_code(ctx, params, code))
    ctx.events.emit("promotion_code.created", promo)
    return promo


@routes.get("/v1/promotion_codes/{id}")
def retrieve_promotion_code(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "promotion_code", call.arg("id"))


@routes.post("/v1/promotion_codes/{id}", Hash(active=Bool(), metadata=Metadata()))
def update_promotion_code(ctx: Ctx, call: Call) -> Obj:
    promo = fetch(ctx, "promotion_code", call.arg("id"))
    before = copy.deepcopy(promo)
    if "active" in call.params:
        promo["active"] = call.params["active"]
    if "metadata" in call.params:
        promo["metadata"] = merge_metadata(promo["metadata"], call.params["metadata"])
    ctx.events.updated("promotion_code.updated", before, promo)
    return promo


@routes.get(
    "/v1/promotion_codes",
    Hash(
        LIST_PARAMS,
        active=Bool(),
        code=Str(),
        coupon=Str(),
        customer=Str(),
        created=IntOrRange(),
    ),
)
def list_promotion_codes(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    items = [
        p
        for p in ctx.store.all("promotion_code")
        if ("active" not in params or p["active"] == params["active"])
        and ("code" not in params or p["code"].lower() == params["code"].lower())
        and ("coupon" not in params or p["promotion"]["coupon"] == params["coupon"])
        and ("customer" not in params or p["customer"] == params["customer"])
        and created_matches(p["created"], params.get("created"))
    ]
    return listing(ctx, call, "promotion_code", items)
