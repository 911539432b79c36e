"""The pytest plugin host projects get with ``fiko-billing[testing]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from fiko_billing import tokens
from fiko_billing.entitlements import has_active_plan
from fiko_billing.models import PaymentStatus
from fiko_billing.testing import payloads
from fiko_billing.testing.webhooks import post_event as post_event_function
from tests.host_project import run_pytest, write_host_project

HOST_TESTS = """\
    from fiko_billing import tokens
    from fiko_billing.entitlements import has_active_plan
    from fiko_billing.models import PaymentStatus
    from fiko_billing.testing import payloads


    def test_a_paid_purchase(paid_purchase, billing_token_package):
        assert paid_purchase.status == PaymentStatus.SUCCEEDED
        assert tokens.balance(paid_purchase.subscriber) == billing_token_package.tokens


    def test_a_subscribed_subscriber(subscribed_subscriber, billing_plan):
        assert has_active_plan(subscribed_subscriber, plans=[billing_plan])
        assert tokens.balance(subscribed_subscriber) == billing_plan.tokens_per_period


    def test_a_signed_event(db, post_event):
        charge = payloads.charge(amount=500, payment_intent="pi_unknown")
        assert post_event(payloads.event("charge.succeeded", charge)).status_code == 200


    def test_the_emulator(stripe_emulator, settings):
        assert settings.FIKO_BILLING["STRIPE_API_BASE"] == stripe_emulator.url
"""


def test_a_host_project_uses_the_fixtures_without_a_conftest(tmp_path: Path) -> None:
    root = write_host_project(tmp_path, {"test_billing.py": HOST_TESTS})
    result = run_pytest(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_the_plugin_is_inert_where_its_fixtures_are_not_used(tmp_path: Path) -> None:
    """No Django settings, no fiko_billing app: the plugin loads and changes nothing."""
    tests = {"test_plain.py": "def test_plain():\n    assert True\n"}
    root = write_host_project(tmp_path, tests, django=False)
    result = run_pytest(root, "--trace-config")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "fiko_billing.testing.plugin" in result.stdout  # loaded by its entry point


def test_a_custom_subscriber_model_is_told_to_override_the_subscriber(tmp_path: Path) -> None:
    settings = tmp_path / "hostsite_settings.py"
    write_host_project(tmp_path, {"test_org.py": "def test_org(billing_subscriber):\n    pass\n"})
    settings.write_text(
        settings.read_text()
        + 'FIKO_BILLING_SUBSCRIBER_MODEL = "auth.Group"\n'
        + 'FIKO_BILLING = {"SUBSCRIBER_RESOLVER": "hostsite_urls.no_subscriber"}\n'
    )
    result = run_pytest(tmp_path)
    assert result.returncode == 1
    assert "override billing_subscriber in your conftest.py" in result.stdout


def test_paid_purchase_is_credited(paid_purchase: Any, billing_token_package: Any) -> None:
    assert paid_purchase.status == PaymentStatus.SUCCEEDED
    assert tokens.balance(paid_purchase.subscriber) == billing_token_package.tokens


def test_subscribed_subscriber_has_the_plan(subscribed_subscriber: Any, billing_plan: Any) -> None:
    assert has_active_plan(subscribed_subscriber)
    assert tokens.balance(subscribed_subscriber) == billing_plan.tokens_per_period


def test_post_event_without_a_secret_names_the_setting(db: None, settings: Any) -> None:
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_WEBHOOK_SECRET": ()}
    event = payloads.event("charge.succeeded", payloads.charge(amount=500))
    with pytest.raises(ImproperlyConfigured, match=r"FIKO_BILLING\['STRIPE_WEBHOOK_SECRET'\]"):
        post_event_function(event)


@pytest.fixture
def no_webhook_secret(settings: Any) -> None:
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_WEBHOOK_SECRET": ()}


def test_the_post_event_fixture_brings_a_secret(
    db: None, no_webhook_secret: None, settings: Any, post_event: Any
) -> None:
    assert settings.FIKO_BILLING["STRIPE_WEBHOOK_SECRET"]
    event = payloads.event("charge.succeeded", payloads.charge(amount=500))
    assert post_event(event).status_code == 200
