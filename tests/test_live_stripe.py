"""The checkout flow against real Stripe test mode.

Runs only with ``-m live`` and ``FIKO_LIVE_STRIPE_KEY=sk_test_...`` in the
environment (a test-mode key of a Stripe account you own); otherwise every
test here is skipped with the reason. Nothing here runs in CI, which has no
network.
"""

from __future__ import annotations

import os
import uuid

import pytest

from fiko_billing.gateway import get_gateway
from fiko_billing.services.catalog_sync import sync_catalogue
from fiko_billing.services.checkout import start_checkout
from fiko_billing.services.fulfilment import fulfil_checkout_session
from tests.factories import PackagePriceFactory, PlanPriceFactory, SubscriberFactory

LIVE_KEY = os.environ.get("FIKO_LIVE_STRIPE_KEY", "")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not LIVE_KEY.startswith("sk_test_"),
        reason="set FIKO_LIVE_STRIPE_KEY=sk_test_... to run against Stripe test mode",
    ),
]


@pytest.fixture
def live_settings(settings):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "STRIPE_SECRET_KEY": LIVE_KEY,
        "STRIPE_API_BASE": "https://api.stripe.com",
    }


@pytest.mark.django_db
def test_sync_then_checkout_for_a_plan_and_a_package(live_settings):
    tag = uuid.uuid4().hex[:8]
    plan_price = PlanPriceFactory(plan__name=f"fiko live plan {tag}", unit_amount=500)
    package_price = PackagePriceFactory(package__name=f"fiko live package {tag}", unit_amount=100)
    report = sync_catalogue()
    assert report.created == 4  # two products, two prices
    assert sync_catalogue().created == 0

    gateway = get_gateway()
    subscriber = SubscriberFactory()
    for plan_type, price in (("full", plan_price), ("token", package_price)):
        price.refresh_from_db()
        started = start_checkout(
            subscriber,
            plan_type=plan_type,
            plan_id=price.item.pk,
            currency="usd",
            quantity=1,
            gateway=gateway,
        )
        assert started.url.startswith("https://checkout.stripe.com/")
        session = gateway.retrieve_checkout_session(
            started.session_id, expand=["subscription", "invoice"]
        )
        assert fulfil_checkout_session(session).outcome == "pending"
