"""Where a checkout stands when the success page asks before the webhook arrived."""

from __future__ import annotations

from fiko_billing.gateway import StripeGateway, get_gateway
from fiko_billing.models import Payment
from fiko_billing.services import fulfilment


def fulfil_from_stripe(
    payment: Payment, session_id: str, *, gateway: StripeGateway | None = None
) -> Payment:
    """Ask Stripe for the session and fulfil it as its webhook would; the payment after."""
    session = (gateway or get_gateway()).retrieve_checkout_session(
        session_id, expand=["subscription", "invoice"]
    )
    return fulfilment.fulfil_checkout_session(session).payment or payment
