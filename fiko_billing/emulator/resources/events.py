"""``/v1/events``: retrieve and list, newest first, with Stripe's filters."""

from __future__ import annotations

from fnmatch import fnmatchcase

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.params import LIST_PARAMS, Bool, Hash, IntOrRange, List, Str
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import invalid

from .common import created_matches, fetch, listing

routes = Routes()

RETENTION = 30 * 86_400


@routes.get("/v1/events/{id}")
def retrieve(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "event", call.arg("id"))


@routes.get(
    "/v1/events",
    Hash(
        LIST_PARAMS,
        type=Str(),
        types=List(Str(), max_items=20),
        created=IntOrRange(),
        delivery_success=Bool(),
    ),
)
def list_(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    if "type" in params and "types" in params:
        raise invalid("You may only specify one of these parameters: type, types.", param="types")
    horizon = ctx.now() - RETENTION
    pattern = params.get("type")
    types = params.get("types")
    delivered = params.get("delivery_success")
    items = [
        event
        for event in ctx.store.all("event")
        if event["created"] >= horizon
        and (pattern is None or fnmatchcase(event["type"], pattern))
        and (types is None or event["type"] in types)
        and (delivered is None or (event["pending_webhooks"] == 0) == delivered)
        and created_matches(event["created"], params.get("created"))
    ]
    return listing(ctx, call, "event", items)
