"""``/v1/checkout/sessions``: create, retrieve, list, line items, expire."""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.currencies import minimum_charge, shown, too_small
from fiko_billing.emulator.engine import checkout_flow, discounting
from fiko_billing.emulator.expand import render_line_item
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
)
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.shapes import checkout as shapes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import invalid

from .common import created_matches, fetch, listing

routes = Routes()

CREATE = Hash(
    mode=Enum("payment", "subscription").req(),
    line_items=List(Hash(price=Str().req(), quantity=Int(minimum=1, maximum=999_999).req())),
    customer=Str(),
    customer_email=Str(max_length=512),
    customer_creation=Enum("always", "if_required"),
    client_reference_id=Str(max_length=200),
    metadata=Metadata(),
    subscription_data=Hash(metadata=Metadata(), description=Str(max_length=500)),
    payment_intent_data=Hash(metadata=Metadata(), description=Str(max_length=1000)),
    allow_promotion_codes=Bool(),
    discounts=List(Hash(coupon=Str(), promotion_code=Str()), max_items=1),
    success_url=Str(max_length=5000),
    cancel_url=Str(max_length=5000),
    ui_mode=Enum("hosted_page"),
    expires_at=Int(),
    locale=Str(),
    billing_address_collection=Enum("auto", "required"),
    currency=Currency(),
)


@routes.post("/v1/checkout/sessions", CREATE)
def create(ctx: Ctx, call: Call) -> Obj:
    params = dict(call.params)
    mode = params["mode"]
    _check_combinations(params)
    if params.get("customer"):
        fetch(ctx, "customer", params["customer"], param="customer")
    prices = _line_prices(ctx, params.get("line_items") or [], mode)
    currency = prices[0][0]["currency"]
    if params.get("currency") and params["currency"] != currency:
        raise invalid(
            "The currency provided does not match the currency of the prices.", param="currency"
        )
    discounts = _discounts(ctx, params, prices)
    now = ctx.now()
    expires_at = params.get("expires_at")
    if expires_at is not None and not now + 1800 <= expires_at <= now + shapes.SESSION_LIFETIME:
        raise invalid(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from creation.",
            param="expires_at",
        )
    params["metadata"] = merge_metadata({}, params.get("metadata"))
    subtotal = sum(int(price["unit_amount"]) * quantity for price, quantity in prices)
    coupons = [ctx.store.get("coupon", d["coupon"]) or {} for d in discounts]
    if too_small(subtotal - checkout_flow.discount_for(subtotal, coupons), currency):
        raise invalid(
            "The Checkout Session's total amount due must add up to at least "
            f"{shown(minimum_charge(currency), currency)}",
            param="line_items",
            code="amount_too_small",
        )
    session = ctx.store.add(shapes.session(ctx, params, currency=currency, subtotal=subtotal))
    hidden = ctx.store.hidden(session["id"])
    hidden["line_items"] = [
        shapes.line_item(ctx, price, ctx.store.get("product", price["product"]) or {}, quantity)
        for price, quantity in prices
    ]
    hidden["discounts"] = discounts
    for section in ("subscription_data", "payment_intent_data"):
        data = dict(params.get(section) or {})
        data["metadata"] = merge_metadata({}, data.get("metadata"))
        hidden[section] = data
    if discounts:
        checkout_flow.apply_amounts(ctx, session)
    return session


def _check_combinations(params: dict[str, Any]) -> None:
    mode = params["mode"]
    if not params.get("line_items"):
        raise invalid(
            f"`line_items` is required in `{mode}` mode.",
            param="line_items",
            code="parameter_missing",
        )
    if params.get("customer") and params.get("customer_email"):
        raise invalid(
            "You may only specify one of these parameters: customer, customer_email.",
            param="customer_email",
        )
    if params.get("allow_promotion_codes") and params.get("discounts"):
        raise invalid(
            "You may only specify one of these parameters: allow_promotion_codes, discounts.",
            param="discounts",
        )
    if mode == "subscription":
        for name in ("customer_creation", "payment_intent_data"):
            if name in params:
                raise invalid(f"`{name}` can only be used in `payment` mode.", param=name)
    if mode == "payment" and "subscription_data" in params:
        raise invalid(
            "You can not pass `subscription_data` in `payment` mode.", param="subscription_data"
        )


def _line_prices(ctx: Ctx, items: list[Obj], mode: str) -> list[tuple[Obj, int]]:
    prices = []
    for index, item in enumerate(items):
        param = f"line_items[{index}][price]"
        price = fetch(ctx, "price", item["price"], param=param)
        if not price["active"]:
            raise invalid(
                "The price specified is inactive. This field only accepts active prices.",
                param=param,
            )
        product = ctx.store.get("product", price["product"])
        if product is not None and not product["active"]:
            raise invalid(f"The product `{product['id']}` of this price is inactive.", param=param)
        if mode == "payment" and price["type"] == "recurring":
            raise invalid(
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
                param=param,
            )
        prices.append((price, int(item["quantity"])))
    if mode == "subscription" and not any(p["type"] == "recurring" for p, _ in prices):
        raise invalid(
            "You must provide at least one recurring price in `subscription` mode when using "
            "prices.",
            param="line_items",
        )
    if mode == "subscription" and any(p["type"] != "recurring" for p, _ in prices):
        raise invalid(
            "One-time prices in `subscription` mode are not supported by the emulator.",
            param="line_items",
        )
    if len({p["currency"] for p, _ in prices}) > 1:
        raise invalid("All prices must be in the same currency.", param="line_items")
    return prices


def _discounts(ctx: Ctx, params: dict[str, Any], prices: list[tuple[Obj, int]]) -> list[Obj]:
    subtotal = sum(int(p["unit_amount"]) * q for p, q in prices)
    result = []
    for index, entry in enumerate(params.get("discounts") or []):
        if "promotion_code" in entry:
            param = f"discounts[{index}][promotion_code]"
            promo = fetch(ctx, "promotion_code", entry["promotion_code"], param=param)
            problem = discounting.why_not_redeemable(
                ctx,
                promo,
                customer=params.get("customer"),
                subtotal=subtotal,
                currency=prices[0][0]["currency"],
            )
            if problem is not None:
                raise invalid(problem, param=param)
            result.append({"coupon": promo["promotion"]["coupon"], "promotion_code": promo["id"]})
        elif "coupon" in entry:
            param = f"discounts[{index}][coupon]"
            coupon = fetch(ctx, "coupon", entry["coupon"], param=param)
            if not coupon["valid"]:
                raise invalid(f"Coupon `{coupon['id']}` is no longer valid.", param=param)
            result.append({"coupon": coupon["id"], "promotion_code": None})
        else:
            raise invalid(
                "You must pass one of `coupon` or `promotion_code`.", param=f"discounts[{index}]"
            )
    return result


@routes.get("/v1/checkout/sessions/{id}")
def retrieve(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "checkout.session", call.arg("id"))


@routes.get(
    "/v1/checkout/sessions",
    Hash(
        LIST_PARAMS,
        customer=Str(),
        payment_intent=Str(),
        subscription=Str(),
        status=Enum("open", "complete", "expired"),
        created=IntOrRange(),
    ),
)
def list_(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    items = [
        s
        for s in ctx.store.all("checkout.session")
        if all(
            params.get(f) in (None, s[f])
            for f in ("customer", "payment_intent", "subscription", "status")
        )
        and created_matches(s["created"], params.get("created"))
    ]
    return listing(ctx, call, "checkout.session", items)


@routes.get("/v1/checkout/sessions/{id}/line_items", Hash(LIST_PARAMS))
def line_items(ctx: Ctx, call: Call) -> Obj:
    session = fetch(ctx, "checkout.session", call.arg("id"))
    items = [
        render_line_item(ctx.store, item) for item in ctx.store.hidden(session["id"])["line_items"]
    ]
    return listing(ctx, call, "line item", items)


@routes.post("/v1/checkout/sessions/{id}/expire")
def expire(ctx: Ctx, call: Call) -> Obj:
    session = fetch(ctx, "checkout.session", call.arg("id"))
    if session["status"] != "open":
        raise invalid(
            "Only Checkout Sessions with a status of `open` can be expired.",
            param="session",
        )
    checkout_flow.expire(ctx, session)
    return session
