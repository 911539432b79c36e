"""``/v1/webhook_endpoints``: where events are delivered; the secret is shown once."""

from __future__ import annotations

import copy

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.params import (
    LIST_PARAMS,
    Bool,
    Hash,
    List,
    Metadata,
    Str,
    merge_metadata,
)
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.shapes import portal as shapes
from fiko_billing.emulator.shapes.customers import deleted
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import invalid

from .common import fetch, listing

routes = Routes()

FIELDS = {
    "url": Str(max_length=5000),
    "enabled_events": List(Str(), max_items=500),
    "description": Str(max_length=5000, empty_unsets=True),
    "metadata": Metadata(),
}


def _check(params: Obj) -> None:
    url = params.get("url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise invalid("Invalid URL: URL must be an http or https URL.", param="url")
    for index, name in enumerate(params.get("enabled_events") or []):
        if name != "*" and "." not in name:
            raise invalid(
                f"Invalid enabled_events[{index}]: must be one of Stripe's event types",
                param=f"enabled_events[{index}]",
            )


@routes.post(
    "/v1/webhook_endpoints",
    Hash(FIELDS, api_version=Str(), connect=Bool()),
)
def create(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    for name in ("url", "enabled_events"):
        if not params.get(name):
            raise invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
    _check(params)
    fields = {**params, "metadata": merge_metadata({}, params.get("metadata"))}
    endpoint = ctx.store.add(shapes.webhook_endpoint(ctx, fields))
    secret = ctx.store.ids.secret("whsec")
    ctx.store.hidden(endpoint["id"])["secret"] = secret
    return {**copy.deepcopy(endpoint), "secret": secret}


@routes.get("/v1/webhook_endpoints/{id}")
def retrieve(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "webhook_endpoint", call.arg("id"))


@routes.post("/v1/webhook_endpoints/{id}", Hash(FIELDS, disabled=Bool()))
def update(ctx: Ctx, call: Call) -> Obj:
    endpoint = fetch(ctx, "webhook_endpoint", call.arg("id"))
    params = call.params
    _check(params)
    for field in ("url", "enabled_events", "description"):
        if field in params:
            endpoint[field] = params[field]
    if "metadata" in params:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], params["metadata"])
    if "disabled" in params:
        endpoint["status"] = "disabled" if params["disabled"] else "enabled"
    return endpoint


@routes.delete("/v1/webhook_endpoints/{id}", expandable=False)
def delete(ctx: Ctx, call: Call) -> Obj:
    endpoint = fetch(ctx, "webhook_endpoint", call.arg("id"))
    tombstone = deleted(endpoint)
    ctx.store.add(tombstone)
    return tombstone


@routes.get("/v1/webhook_endpoints", Hash(LIST_PARAMS))
def list_(ctx: Ctx, call: Call) -> Obj:
    items = [e for e in ctx.store.all("webhook_endpoint") if not e.get("deleted")]
    return listing(ctx, call, "webhook_endpoint", items)


def endpoint_urls(ctx: Ctx) -> set[str]:
    """URLs of the endpoints that exist (enabled or disabled, not deleted)."""
    return {e["url"] for e in ctx.store.iter("webhook_endpoint") if not e.get("deleted")}


def receiving(ctx: Ctx, event_type: str) -> list[tuple[str, tuple[str, ...]]]:
    """``(url, secrets)`` of every enabled endpoint that takes this event type."""
    targets: list[tuple[str, tuple[str, ...]]] = []
    for endpoint in ctx.store.iter("webhook_endpoint"):
        if endpoint.get("deleted") or endpoint["status"] != "enabled":
            continue
        wanted = endpoint["enabled_events"]
        if "*" in wanted or event_type in wanted:
            targets.append((endpoint["url"], (ctx.store.hidden(endpoint["id"])["secret"],)))
    return targets
