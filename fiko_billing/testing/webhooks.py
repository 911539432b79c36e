"""Posting signed Stripe events to our webhook from Django's test client."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from fiko_billing.conf import billing_settings
from fiko_billing.testing.conformance import check_event
from fiko_billing.webhooks.signature import signature_header


def signed_headers(
    body: bytes, *, secret: str | None = None, timestamp: int | None = None
) -> dict[str, Any]:
    """The ``HTTP_STRIPE_SIGNATURE`` header Stripe would send with ``body``."""
    if secret is None:
        configured = billing_settings.STRIPE_WEBHOOK_SECRET
        if not configured:
            raise ImproperlyConfigured(
                "FIKO_BILLING['STRIPE_WEBHOOK_SECRET'] is not set, and the webhook view "
                "accepts only events signed with it: set it in the test settings, pass "
                "secret=..., or use the post_event fixture, which sets a test secret."
            )
        secret = configured[0]
    ts = int(time.time()) if timestamp is None else timestamp
    return {"HTTP_STRIPE_SIGNATURE": signature_header(body, secret, ts)}


def post_event(
    event: dict[str, Any],
    *,
    client: Client | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
    url: str | None = None,
    conforming: bool = True,
) -> Any:
    """Sign ``event`` as Stripe does and POST it to the webhook; returns the response.

    The event must be one Stripe could send (``check_event``: only fields the
    SDK declares, no includable field such as ``invoice.payments``, every
    field never null in the SDK present); ``conforming=False`` posts it as it
    is, for a test about what a malformed event does.
    """
    if conforming:
        problems = check_event(event)
        if problems:
            raise AssertionError(
                "not an event Stripe sends:\n" + "\n".join(str(p) for p in problems)
            )
    client = client or Client(enforce_csrf_checks=True)
    body = json.dumps(event).encode()
    return client.post(
        url or reverse("fiko_billing:stripe-webhook"),
        data=body,
        content_type="application/json",
        **signed_headers(body, secret=secret, timestamp=timestamp),
    )
