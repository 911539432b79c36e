"""The pytest plugin host projects get with ``fiko-billing[testing]``."""

from __future__ import annotations

from typing import Any

from fiko_billing import tokens
from fiko_billing.entitlements import has_active_plan
from fiko_billing.models import PaymentStatus


def test_paid_purchase_is_credited(paid_purchase: Any, billing_token_package: Any) -> None:
    assert paid_purchase.status == PaymentStatus.SUCCEEDED
    assert tokens.balance(paid_purchase.subscriber) == billing_token_package.tokens


def test_subscribed_subscriber_has_the_plan(subscribed_subscriber: Any, billing_plan: Any) -> None:
    assert has_active_plan(subscribed_subscriber)
    assert tokens.balance(subscribed_subscriber) == billing_plan.tokens_per_period
