"""``/v1/subscriptions``: retrieve, list, update (cancel at period end, price swap), cancel."""

from __future__ import annotations

import copy

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import changes, lifecycle
from fiko_billing.emulator.params import (
    LIST_PARAMS,
    Bool,
    Enum,
    Hash,
    Int,
    IntOrRange,
    List,
    Metadata,
    OneOf,
    Str,
    merge_metadata,
)
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import invalid

from .common import created_matches, fetch, listing

routes = Routes()

STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
PRORATION = Enum("always_invoice", "create_prorations", "none")
DETAILS = Hash(
    comment=Str(max_length=5000, empty_unsets=True),
    feedback=Enum(
        "customer_service",
        "low_quality",
        "missing_features",
        "other",
        "switched_service",
        "too_complex",
        "too_expensive",
        "unused",
    ),
)


@routes.get("/v1/subscriptions/{id}")
def retrieve(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "subscription", call.arg("id"))


@routes.get(
    "/v1/subscriptions",
    Hash(LIST_PARAMS, customer=Str(), price=Str(), status=Enum(*STATUSES), created=IntOrRange()),
)
def list_(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    status = params.get("status")
    items = []
    for sub in ctx.store.all("subscription"):
        if status is None and sub["status"] in ("canceled", "incomplete_expired"):
            continue  # Stripe's default hides ended subscriptions.
        if status == "ended" and sub["status"] not in ("canceled", "incomplete_expired"):
            continue
        if status not in (None, "all", "ended") and sub["status"] != status:
            continue
        if params.get("customer") not in (None, sub["customer"]):
            continue
        if "price" in params and all(
            i["price"]["id"] != params["price"] for i in sub["items"]["data"]
        ):
            continue
        if created_matches(sub["created"], params.get("created")):
            items.append(sub)
    return listing(ctx, call, "subscription", items)


@routes.post(
    "/v1/subscriptions/{id}",
    Hash(
        cancel_at_period_end=Bool(),
        cancel_at=OneOf(Int(), Enum("", "min_period_end", "max_period_end")),
        cancellation_details=DETAILS,
        default_payment_method=Str(),
        description=Str(max_length=500, empty_unsets=True),
        items=List(Hash(id=Str(), price=Str(), quantity=Int(minimum=1), deleted=Bool())),
        metadata=Metadata(),
        proration_behavior=PRORATION,
        billing_cycle_anchor=Hash(type=Enum("now", "unchanged").req()),
    ),
)
def update(ctx: Ctx, call: Call) -> Obj:
    sub = fetch(ctx, "subscription", call.arg("id"))
    params = call.params
    ended = sub["status"] in ("canceled", "incomplete_expired")
    if ended and set(params) - {"metadata", "cancellation_details", "expand"}:
        raise invalid(
            "A canceled subscription can only update its cancellation_details and metadata."
        )
    # Everything is checked before anything changes: a rejected request changes nothing.
    pm = _payment_method(ctx, sub, params.get("default_payment_method"))
    swaps = [item_change(ctx, sub, i, c) for i, c in enumerate(params.get("items") or [])]
    cancel_at = _cancel_at(ctx, sub, params["cancel_at"]) if "cancel_at" in params else None
    details = params.get("cancellation_details") or {}
    before = copy.deepcopy(sub)
    if pm is not None:
        sub["default_payment_method"] = pm["id"]
    if "description" in params:
        sub["description"] = params["description"]
    if "metadata" in params:
        sub["metadata"] = merge_metadata(sub["metadata"], params["metadata"])
    for key in ("comment", "feedback"):
        if key in details:
            sub["cancellation_details"][key] = details[key]
    proration = params.get("proration_behavior", "create_prorations")
    switches = [
        changes.apply_switch(
            ctx, sub, item, price, quantity=quantity, proration_behavior=proration
        )
        for item, price, quantity in swaps
        if price["id"] != item["price"]["id"] or quantity not in (None, item["quantity"])
    ]
    wanted = {"feedback": details.get("feedback"), "comment": details.get("comment")}
    if "cancel_at" in params:
        if cancel_at is None:
            changes.clear_cancel(sub)
        else:
            changes.mark_cancel(ctx, sub, at=cancel_at, **wanted)
    if params.get("cancel_at_period_end") is True and not sub["cancel_at_period_end"]:
        changes.mark_cancel(ctx, sub, **wanted)
    elif params.get("cancel_at_period_end") is False and sub["cancel_at_period_end"]:
        changes.clear_cancel(sub)
    ctx.events.updated("customer.subscription.updated", before, sub)
    for switch in switches:
        changes.bill_switch(ctx, sub, switch)
    return sub


def _payment_method(ctx: Ctx, sub: Obj, pm_id: str | None) -> Obj | None:
    if pm_id is None:
        return None
    pm = fetch(ctx, "payment_method", pm_id, param="default_payment_method")
    if pm["customer"] != sub["customer"]:
        raise invalid(
            "The customer does not have a payment method with the ID "
            f"{pm['id']}. The payment method must be attached to the customer.",
            param="default_payment_method",
        )
    return pm


def _cancel_at(ctx: Ctx, sub: Obj, value: int | str) -> int | None:
    """``cancel_at``: a date, a period-end keyword, or "" (None) to clear it."""
    if value == "":
        return None
    at = lifecycle.period_of(sub)[1] if isinstance(value, str) else value
    if at <= ctx.now():
        raise invalid("`cancel_at` must be in the future.", param="cancel_at")
    return at


def item_change(
    ctx: Ctx, sub: Obj, index: int, change: Obj, *, prefix: str = ""
) -> tuple[Obj, Obj, int | None]:
    """An ``items[n]`` entry checked against the subscription: its item, price and quantity."""
    param = f"{prefix}[items][{index}]" if prefix else f"items[{index}]"
    if change.get("deleted"):
        raise invalid(
            "Removing subscription items is not supported by the emulator.",
            param=f"{param}[deleted]",
        )
    if "id" not in change:
        raise invalid(
            "Adding subscription items is not supported by the emulator; pass the item's id.",
            param=f"{param}[id]",
        )
    item = next((i for i in sub["items"]["data"] if i["id"] == change["id"]), None)
    if item is None:
        raise invalid(
            f"Subscription item {change['id']} does not belong to this subscription.",
            param=f"{param}[id]",
        )
    price = item["price"]
    if "price" in change:
        price = fetch(ctx, "price", change["price"], param=f"{param}[price]")
        problem = None
        if not price["active"]:
            problem = "The price specified is inactive. This field only accepts active prices."
        elif price["type"] != "recurring":
            problem = (
                "The price specified is a one-time price. Subscription items only accept "
                "recurring prices."
            )
        elif price["currency"] != sub["currency"]:
            problem = "The price's currency must match the subscription's currency."
        if problem:
            raise invalid(problem, param=f"{param}[price]")
    return item, price, change.get("quantity")


@routes.delete(
    "/v1/subscriptions/{id}",
    Hash(cancellation_details=DETAILS, invoice_now=Bool(), prorate=Bool()),
)
def cancel(ctx: Ctx, call: Call) -> Obj:
    sub = fetch(ctx, "subscription", call.arg("id"))
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid(
            f"A canceled subscription can't be canceled again: {sub['id']}",
            param=None,
        )
    details = call.params.get("cancellation_details") or {}
    lifecycle.cancel_now(
        ctx,
        sub,
        reason="cancellation_requested",
        comment=details.get("comment"),
        feedback=details.get("feedback"),
    )
    return sub
