"""``/v1/disputes``: retrieve, list, submit evidence, accept (close as lost)."""

from __future__ import annotations

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import disputes
from fiko_billing.emulator.params import (
    LIST_PARAMS,
    Bool,
    Hash,
    IntOrRange,
    Metadata,
    Str,
    merge_metadata,
)
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.shapes.balance import EVIDENCE_FIELDS
from fiko_billing.emulator.store import Obj

from .common import created_matches, fetch, listing

routes = Routes()

EVIDENCE = Hash({name: Str(max_length=20_000) for name in EVIDENCE_FIELDS})


@routes.get("/v1/disputes/{id}")
def retrieve(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "dispute", call.arg("id"))


@routes.get(
    "/v1/disputes",
    Hash(LIST_PARAMS, charge=Str(), payment_intent=Str(), created=IntOrRange()),
)
def list_(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    items = [
        d
        for d in ctx.store.all("dispute")
        if params.get("charge") in (None, d["charge"])
        and params.get("payment_intent") in (None, d["payment_intent"])
        and created_matches(d["created"], params.get("created"))
    ]
    return listing(ctx, call, "dispute", items)


@routes.post("/v1/disputes/{id}", Hash(evidence=EVIDENCE, metadata=Metadata(), submit=Bool()))
def update(ctx: Ctx, call: Call) -> Obj:
    dispute = fetch(ctx, "dispute", call.arg("id"))
    params = call.params
    metadata = (
        merge_metadata(dispute["metadata"], params["metadata"]) if "metadata" in params else None
    )
    disputes.update(
        ctx,
        dispute,
        evidence=params.get("evidence"),
        metadata=metadata,
        submit=params.get("submit", False),
    )
    return dispute


@routes.post("/v1/disputes/{id}/close")
def close(ctx: Ctx, call: Call) -> Obj:
    dispute = fetch(ctx, "dispute", call.arg("id"))
    disputes.accept(ctx, dispute)
    return dispute
