from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from fiko_billing.testing.conformance import ConformanceLog
from tests.factories import SubscriberFactory
from tests.stripe_reads import PRODUCT_READS


@pytest.fixture(autouse=True)
def _empty_cache() -> Any:
    """Each test starts with an empty cache (the checkout status endpoint's throttle)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def subscriber(db: None) -> Any:
    return SubscriberFactory()


@pytest.fixture
def billing_subscriber(db: None) -> Any:
    """The plugin's subscriber, of whichever model this run bills (user or organisation)."""
    return SubscriberFactory()


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_configure(config: pytest.Config) -> None:
    # Compiled catalogues (.mo) are build outputs, never committed: compile the
    # ones missing or older than their .po before any test translates.
    from scripts.messages import compile_catalogues

    compile_catalogues()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--heavy",
        action="store_true",
        help="also run the long suites marked 'heavy' (permutations, fuzzing)",
    )


def _deselect_heavy(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The heavy suites run in one CI leg (``--heavy``), not in every run of the suite."""
    if config.getoption("--heavy"):
        return
    kept = [item for item in items if "heavy" not in item.keywords]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if "heavy" in i.keywords])
        items[:] = kept


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    _deselect_heavy(config, items)

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def _sdk_endpoints_read() -> None:
    """Read the SDK's endpoint table once per process, before any test's clock runs.

    It takes seconds; read inside a request it would eat that request's Stripe
    time budget and turn a conformance check into a ``stripe_timeout``.
    """
    from fiko_billing.testing.conformance.endpoints import endpoints

    endpoints()


@pytest.fixture
def stripe_conformance(_sdk_endpoints_read: None) -> ConformanceLog:
    """Our requests must be ones Stripe accepts; Stripe's objects must carry what we read."""
    return ConformanceLog(reads=PRODUCT_READS)


@pytest.fixture
def stripe_stub(settings: Any, stripe_conformance: ConformanceLog) -> Any:
    """The real SDK talks to a scripted local Stripe; unrouted requests fail the test."""
    from tests.stripe_stub import StubServer

    with StubServer() as stub:
        stub.conformance = stripe_conformance
        settings.FIKO_BILLING = {
            **settings.FIKO_BILLING,
            "STRIPE_API_BASE": stub.url,
            "STRIPE_MAX_NETWORK_RETRIES": 0,
            "STRIPE_TIMEOUT": 5,
        }
        yield stub
        assert not stub.unexpected, f"unexpected Stripe calls: {stub.unexpected}"
    stub.check_conformance()
    stripe_conformance.assert_clean()
