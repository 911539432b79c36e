"""The Customer Portal: a session Stripe hosts where a customer manages their billing."""

from __future__ import annotations

from fiko_billing.gateway import StripeGateway, get_gateway, new_idempotency_key


def portal_url(
    stripe_customer_id: str, *, return_url: str, gateway: StripeGateway | None = None
) -> str:
    """A new portal session's URL for the customer; Stripe failures propagate."""
    session = (gateway or get_gateway()).create_portal_session(
        {"customer": stripe_customer_id, "return_url": return_url},
        idempotency_key=new_idempotency_key("portal"),
    )
    return str(session["url"])
