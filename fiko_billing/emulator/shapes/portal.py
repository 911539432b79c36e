"""Customer Portal sessions and webhook endpoints."""

from __future__ import annotations

from typing import Any

from fiko_billing.api_version import PINNED_API_VERSION
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.store import Obj

#: The one portal configuration: cancel at period end, switch plans with
#: prorations, update the card (Stripe's defaults for a new account).
CONFIGURATION_ID = "bpc_emulatordefault"


def portal_session(
    ctx: Ctx,
    *,
    customer: str,
    return_url: str | None,
    configuration: str | None = None,
    locale: str | None = None,
) -> Obj:
    session_id = ctx.new_id("bps")
    return {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": configuration or CONFIGURATION_ID,
        "created": ctx.now(),
        "customer": customer,
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": locale,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": f"{ctx.base_url}/portal/{session_id}",
    }


def webhook_endpoint(ctx: Ctx, params: dict[str, Any]) -> Obj:
    return {
        "id": ctx.new_id("we"),
        "object": "webhook_endpoint",
        "api_version": params.get("api_version") or PINNED_API_VERSION,
        "application": None,
        "created": ctx.now(),
        "description": params.get("description"),
        "enabled_events": list(params["enabled_events"]),
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "status": "enabled",
        "url": params["url"],
    }
