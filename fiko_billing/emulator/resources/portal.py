"""``/v1/billing_portal/sessions``: a link to the hosted portal page."""

from __future__ import annotations

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.params import Enum, Hash, Str
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.shapes import portal as shapes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import bad_param

from .common import fetch

routes = Routes()


# Of Stripe's deep-link flows the emulator's portal has the card update
# (``payment_method_update``); the others are refused as an unknown value.
FLOW_DATA = Hash(
    type=Enum("payment_method_update").req(),
    after_completion=Hash(
        type=Enum("hosted_confirmation", "portal_homepage", "redirect").req(),
        hosted_confirmation=Hash(custom_message=Str(max_length=500)),
        redirect=Hash(return_url=Str().req()),
    ),
)


@routes.post(
    "/v1/billing_portal/sessions",
    Hash(
        customer=Str().req(),
        return_url=Str(max_length=5000),
        configuration=Str(),
        locale=Str(),
        flow_data=FLOW_DATA,
    ),
)
def create(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    customer = fetch(ctx, "customer", params["customer"], param="customer")
    flow_data = params.get("flow_data")
    after = (flow_data or {}).get("after_completion") or {}
    if after.get("type") == "redirect" and not after.get("redirect"):
        name = "flow_data[after_completion][redirect]"
        raise bad_param(f"Missing required param: {name}.", param=name, code="parameter_missing")
    session = ctx.store.add(
        shapes.portal_session(
            ctx,
            customer=customer["id"],
            return_url=params.get("return_url"),
            configuration=params.get("configuration"),
            locale=params.get("locale"),
            flow_data=flow_data,
        )
    )
    ctx.events.emit("billing_portal.session.created", session)
    return session
