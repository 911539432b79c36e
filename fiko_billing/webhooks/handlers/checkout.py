"""``checkout.session.*``: the same fulfilment the success page's status endpoint runs."""

from __future__ import annotations

from fiko_billing import stripe_shapes as shapes
from fiko_billing.models import WebhookEvent
from fiko_billing.services.fulfilment import fail_checkout_session, fulfil_checkout_session


def session_completed(session: shapes.CheckoutSession, event: WebhookEvent) -> None:
    fulfil_checkout_session(session, state_at=event.stripe_created)


def session_payment_failed(session: shapes.CheckoutSession, event: WebhookEvent) -> None:
    fail_checkout_session(session, reason="The delayed payment failed.")
