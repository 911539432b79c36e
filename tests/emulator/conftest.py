from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import stripe

from fiko_billing.emulator import PINNED_API_VERSION, Emulator
from fiko_billing.testing.conformance import ConformanceLog
from tests.emulator.helpers import Receiver

#: 2026-01-31 10:00:00 UTC: a month end, so renewals show Stripe's day clamping.
START = 1_769_853_600
SECRET = "whsec_emulator_tests"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def emulator(receiver: Receiver) -> Iterator[Emulator]:
    # Requests the emulator accepted must be ones Stripe accepts (tests send
    # refused ones on purpose); every answer and event must be Stripe's shape.
    conformance = ConformanceLog(rejected_requests=False)
    running = Emulator(
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        seed=7,
        retry_delays=(0.05, 0.1, 0.2),
        max_attempts=3,
        frozen_at=START,
    )
    conformance.attach(running)
    running.start()
    yield running
    running.stop()
    conformance.assert_clean()


def make_client(url: str, **options: Any) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_emulator",
        base_addresses={"api": url},
        stripe_version=PINNED_API_VERSION,
        max_network_retries=options.pop("max_network_retries", 0),
        **options,
    )


@pytest.fixture
def sdk(emulator: Emulator) -> stripe.StripeClient:
    return make_client(emulator.url)


@dataclass
class Catalogue:
    product: Any
    monthly: Any
    yearly: Any
    premium: Any
    pack: Any


@pytest.fixture
def catalogue(sdk: stripe.StripeClient) -> Catalogue:
    product = sdk.v1.products.create(params={"name": "Pro plan"})
    premium_product = sdk.v1.products.create(params={"name": "Premium plan"})
    pack_product = sdk.v1.products.create(params={"name": "1000 tokens"})
    monthly = sdk.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 2000,
            "currency": "usd",
            "recurring": {"interval": "month"},
            "lookup_key": "pro_monthly",
        }
    )
    yearly = sdk.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 20000,
            "currency": "usd",
            "recurring": {"interval": "year"},
        }
    )
    premium = sdk.v1.prices.create(
        params={
            "product": premium_product.id,
            "unit_amount": 5000,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    pack = sdk.v1.prices.create(
        params={"product": pack_product.id, "unit_amount": 990, "currency": "usd"}
    )
    return Catalogue(product, monthly, yearly, premium, pack)
