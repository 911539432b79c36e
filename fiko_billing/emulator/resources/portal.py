"""``/v1/billing_portal/sessions``: a link to the hosted portal page."""

from __future__ import annotations

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.params import Hash, Str
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.shapes import portal as shapes
from fiko_billing.emulator.store import Obj

from .common import fetch

routes = Routes()


@routes.post(
    "/v1/billing_portal/sessions",
    Hash(customer=Str().req(), return_url=Str(max_length=5000), configuration=Str(), locale=Str()),
)
def create(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    customer = fetch(ctx, "customer", params["customer"], param="customer")
    session = ctx.store.add(
        shapes.portal_session(
            ctx,
            customer=customer["id"],
            return_url=params.get("return_url"),
            configuration=params.get("configuration"),
            locale=params.get("locale"),
        )
    )
    ctx.events.emit("billing_portal.session.created", session)
    return session
