"""The Customer Portal: a session Stripe hosts where a customer manages their billing."""

from __future__ import annotations

from typing import Any

from fiko_billing.gateway import StripeGateway, get_gateway, new_idempotency_key


def portal_url(
    stripe_customer_id: str,
    *,
    return_url: str,
    flow: str | None = None,
    gateway: StripeGateway | None = None,
) -> str:
    """A new portal session's URL for the customer; Stripe failures propagate.

    ``flow`` (``"payment_method_update"``) opens the portal straight on that
    flow and comes back to ``return_url`` once it is done.
    """
    params: dict[str, Any] = {"customer": stripe_customer_id, "return_url": return_url}
    if flow is not None:
        params["flow_data"] = {
            "type": flow,
            "after_completion": {"type": "redirect", "redirect": {"return_url": return_url}},
        }
    session = (gateway or get_gateway()).create_portal_session(
        params, idempotency_key=new_idempotency_key("portal")
    )
    return str(session["url"])
