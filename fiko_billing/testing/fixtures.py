"""pytest fixtures for projects that use fiko_billing.

Enable them in your ``conftest.py``::

    pytest_plugins = ["fiko_billing.testing.fixtures"]

``stripe_emulator`` runs the local Stripe emulator in a thread on a free port
and points ``FIKO_BILLING`` at it; ``billing_live_server`` additionally sends
the emulator's signed webhooks to your project's webhook view on
pytest-django's ``live_server``, so a whole checkout runs end to end.

Both check what travels against the installed stripe SDK's types
(``stripe_conformance``): a request with a parameter Stripe would refuse,
or an answer or event with a field Stripe would not send, fails the test.
Override ``stripe_conformance`` to name the fields your code reads
(``ConformanceLog(reads={"invoice": ["lines.data.period.end"]})``).

``billing_live_server`` holds the emulator's webhooks until the test calls
``deliver_webhooks(emulator)``: deliveries then arrive at a known point of
the test, and never while the test itself uses the database (which matters
with an in-memory SQLite database, whose one connection the live server
shares).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    # Imported where used: loading the plugin imports neither Django nor the SDK.
    from fiko_billing.emulator import Emulator
    from fiko_billing.testing.conformance import ConformanceLog

# Test-mode values the emulator is started with; they open nothing real.
EMULATOR_SECRET_KEY = "sk_test_emulator"  # noqa: S105
EMULATOR_WEBHOOK_SECRET = "whsec_emulator_tests"  # noqa: S105


def _point_at(settings: Any, emulator: Emulator) -> None:
    settings.FIKO_BILLING = {
        **getattr(settings, "FIKO_BILLING", {}),
        "ENABLED": True,
        "TEST_MODE": True,
        "STRIPE_SECRET_KEY": EMULATOR_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": EMULATOR_WEBHOOK_SECRET,
        "STRIPE_API_BASE": emulator.url,
        "STRIPE_MAX_NETWORK_RETRIES": 0,
    }


@pytest.fixture
def stripe_conformance() -> ConformanceLog:
    """Checks every request to the emulator, its answers and events against the SDK's types."""
    from fiko_billing.testing.conformance import ConformanceLog

    return ConformanceLog()


@pytest.fixture
def stripe_emulator(settings: Any, stripe_conformance: ConformanceLog) -> Iterator[Emulator]:
    """A fresh emulator on 127.0.0.1 (no webhooks), with ``FIKO_BILLING`` pointing at it."""
    from fiko_billing.emulator import Emulator

    with Emulator(retry_delays=(0.05, 0.2, 0.5), api_keys=[EMULATOR_SECRET_KEY]) as emulator:
        stripe_conformance.attach(emulator)
        _point_at(settings, emulator)
        yield emulator
    stripe_conformance.assert_clean()


@pytest.fixture
def billing_live_server(
    settings: Any, transactional_db: None, live_server: Any, stripe_conformance: ConformanceLog
) -> Iterator[Emulator]:
    """An emulator whose webhooks reach this project's webhook view on ``live_server``.

    Needs transactional database access (the live server runs in another
    thread); webhooks wait until ``deliver_webhooks(emulator)``.
    """
    from django.urls import reverse

    from fiko_billing.emulator import Emulator

    webhook_url = live_server.url + reverse("fiko_billing:stripe-webhook")
    with Emulator(
        webhook_url=webhook_url,
        webhook_secret=EMULATOR_WEBHOOK_SECRET,
        retry_delays=(0.05, 0.2, 0.5),
        api_keys=[EMULATOR_SECRET_KEY],
    ) as emulator:
        stripe_conformance.attach(emulator)
        emulator.pause_deliveries()
        _point_at(settings, emulator)
        yield emulator
    stripe_conformance.assert_clean()


def deliver_webhooks(emulator: Emulator, timeout: float = 10.0) -> None:
    """Send every webhook the emulator has queued, wait for the answers, hold again."""
    emulator.resume_deliveries()
    try:
        emulator.flush(timeout)
    finally:
        emulator.pause_deliveries()
