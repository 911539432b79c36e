"""Helpers shared by the resource endpoints."""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.routing import Call
from fiko_billing.emulator.store import KIND_NAMES, Obj
from fiko_billing.emulator.wire import missing, page


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind)


def fetch(ctx: Ctx, kind: str, object_id: str, *, param: str = "id") -> Obj:
    """The stored object, or Stripe's ``resource_missing`` (404 by id, 400 as a parameter)."""
    found = ctx.store.get(kind, object_id)
    if found is None or found.get("deleted"):
        raise missing(kind_name(kind), object_id, param=param)
    return found


def listing(ctx: Ctx, call: Call, kind: str, items: list[Obj], url: str | None = None) -> Obj:
    params: dict[str, Any] = call.params
    return page(
        items,
        url=url or call.path,
        limit=params.get("limit"),
        starting_after=params.get("starting_after"),
        ending_before=params.get("ending_before"),
        kind=kind_name(kind),
    )


def created_matches(created: int, condition: dict[str, int] | None) -> bool:
    if not condition:
        return True
    checks = {
        "eq": created == condition.get("eq", created),
        "gt": created > condition.get("gt", created - 1),
        "gte": created >= condition.get("gte", created),
        "lt": created < condition.get("lt", created + 1),
        "lte": created <= condition.get("lte", created),
    }
    return all(checks.values())
