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
    flow_data: dict[str, Any] | None = None,
) -> Obj:
    session_id = ctx.new_id("bps")
    return {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": configuration or CONFIGURATION_ID,
        "created": ctx.now(),
        "customer": customer,
        "customer_account": None,
        "flow": None if flow_data is None else portal_flow(flow_data),
        "livemode": False,
        "locale": locale,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": f"{ctx.base_url}/portal/{session_id}",
    }


def portal_flow(flow_data: dict[str, Any]) -> Obj:
    """A session's ``flow`` from the ``flow_data`` it was created with."""
    after = flow_data.get("after_completion") or {}
    confirmation = after.get("hosted_confirmation") if "hosted_confirmation" in after else None
    return {
        "after_completion": {
            "hosted_confirmation": None
            if after.get("type") != "hosted_confirmation"
            else {"custom_message": (confirmation or {}).get("custom_message")},
            "redirect": None
            if after.get("type") != "redirect"
            else {"return_url": after["redirect"]["return_url"]},
            "type": after.get("type") or "portal_homepage",
        },
        "customer_update": None,
        "subscription_cancel": None,
        "subscription_pause": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": flow_data["type"],
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
