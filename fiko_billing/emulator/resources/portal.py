"""``/v1/billing_portal/sessions``: a link to the hosted portal page."""

from __future__ import annotations

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.params import Hash, Str
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.store import Obj

from .common import fetch

routes = Routes()

#: The one portal configuration: cancel at period end, switch plans with
#: prorations, update the card (Stripe's defaults for a new account).
CONFIGURATION_ID = "bpc_emulatordefault"


@routes.post(
    "/v1/billing_portal/sessions",
    Hash(customer=Str().req(), return_url=Str(max_length=5000), configuration=Str(), locale=Str()),
)
def create(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    customer = fetch(ctx, "customer", params["customer"], param="customer")
    session_id = ctx.new_id("bps")
    session = ctx.store.add(
        {
            "id": session_id,
            "object": "billing_portal.session",
            "configuration": params.get("configuration") or CONFIGURATION_ID,
            "created": ctx.now(),
            "customer": customer["id"],
            "customer_account": None,
            "flow": None,
            "livemode": False,
            "locale": params.get("locale"),
            "on_behalf_of": None,
            "return_url": params.get("return_url"),
            "url": f"{ctx.base_url}/portal/{session_id}",
        }
    )
    ctx.events.emit("billing_portal.session.created", session)
    return session
