"""pytest fixtures for a catalogue, a subscriber and what the subscriber has bought.

The purchases are made as a customer makes them: a Checkout Session opened
through the real SDK on the emulator (``stripe_emulator``), paid on its hosted
page, and the events Stripe would send then signed and posted to the
project's webhook view through Django's test client, so the rows and the
ledger entries are the ones the product writes. No live server is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fiko_billing.emulator import Emulator
    from fiko_billing.subscribers import Subscriber

#: What the catalogue fixtures sell, in the project's currency unless told otherwise.
PLAN_TOKENS_PER_PERIOD = 10_000
PACKAGE_TOKENS = 1_000
PRICE = 500  # minor units


def _currency() -> str:
    from fiko_billing.conf import billing_settings

    return billing_settings.CURRENCY


@pytest.fixture
def billing_plan(db: None) -> Any:
    """An active monthly plan granting 10,000 tokens a period, at 5.00 a month."""
    from fiko_billing.models import Interval, Plan

    plan = Plan.objects.create(name="Pro", interval=Interval.MONTH, tokens=PLAN_TOKENS_PER_PERIOD)
    plan.prices.create(currency=_currency(), unit_amount=PRICE)
    return plan


@pytest.fixture
def billing_token_package(db: None) -> Any:
    """An active one-time package of 1,000 tokens at 5.00."""
    from fiko_billing.models import TokenPackage

    package = TokenPackage.objects.create(name="1,000 tokens", tokens=PACKAGE_TOKENS)
    package.prices.create(currency=_currency(), unit_amount=PRICE)
    return package


@pytest.fixture
def billing_subscriber(db: None, django_user_model: Any) -> Any:
    """A new subscriber: a user when users are the subscribers.

    A project whose ``FIKO_BILLING_SUBSCRIBER_MODEL`` names another model
    overrides this fixture in its ``conftest.py`` to create one of those.
    """
    from fiko_billing.subscribers import get_subscriber_model

    model = get_subscriber_model()
    if model._meta.label != django_user_model._meta.label:
        pytest.fail(
            f"the billing_subscriber fixture creates users, but the subscribers are "
            f"{model._meta.label} objects: override billing_subscriber in your conftest.py",
            pytrace=False,
        )
    fields = {django_user_model.USERNAME_FIELD: "subscriber@example.com"}
    if django_user_model.USERNAME_FIELD != "email" and hasattr(django_user_model, "email"):
        fields["email"] = "subscriber@example.com"
    return django_user_model._default_manager.create_user(**fields)


@pytest.fixture
def post_event(settings: Any) -> Callable[..., Any]:
    """``fiko_billing.testing.webhooks.post_event``, with a webhook secret to sign with.

    When the project configures no ``STRIPE_WEBHOOK_SECRET`` for its tests,
    the emulator's test secret is set for the test.
    """
    from fiko_billing.conf import billing_settings
    from fiko_billing.testing.fixtures import EMULATOR_WEBHOOK_SECRET
    from fiko_billing.testing.webhooks import post_event as post

    if not billing_settings.STRIPE_WEBHOOK_SECRET:
        settings.FIKO_BILLING = {
            **getattr(settings, "FIKO_BILLING", {}),
            "STRIPE_WEBHOOK_SECRET": EMULATOR_WEBHOOK_SECRET,
        }
    return post


def buy(
    emulator: Emulator, subscriber: Subscriber, item: Any, post: Callable[..., Any], settings: Any
) -> Any:
    """Buy ``item`` (a plan or a token package) for ``subscriber`` on the emulator.

    Pushes the catalogue, opens a Checkout Session, pays it with the test
    card that succeeds, and posts the events that followed to the webhook
    view, processed at once. Returns the paid ``Payment``.
    """
    from fiko_billing.gateway import get_gateway
    from fiko_billing.models import Payment
    from fiko_billing.services.catalog_sync import sync_catalogue
    from fiko_billing.services.checkout import start_checkout
    from fiko_billing.testing.hosted import pay_checkout
    from fiko_billing.vocabulary import ProductKind

    # Deliveries are processed in the request here, whatever the project's mode.
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "WEBHOOK_PROCESSING": "sync"}
    gateway = get_gateway()
    sync_catalogue(gateway=gateway)
    seen = len(emulator.objects("event"))
    started = start_checkout(
        subscriber,
        plan_type=ProductKind(item.kind),
        plan_id=item.pk,
        currency=None,
        quantity=1,
        gateway=gateway,
    )
    page = pay_checkout(started.url)
    if not page.paid:
        pytest.fail(f"the emulator's Checkout page did not take the payment: {page.status}")
    events = list(reversed(emulator.objects("event")))[seen:]
    for event in events:
        response = post(event)
        if response.status_code != 200:
            pytest.fail(f"the webhook answered {event['type']} with {response.status_code}")
    # A subscription's payment may now be its first invoice's row: found by the session.
    return Payment.objects.get(stripe_checkout_session_id=started.session_id)


@pytest.fixture
def subscribed_subscriber(
    stripe_emulator: Emulator,
    billing_subscriber: Subscriber,
    billing_plan: Any,
    post_event: Callable[..., Any],
    settings: Any,
) -> Any:
    """``billing_subscriber`` with an active subscription to ``billing_plan``, paid."""
    buy(stripe_emulator, billing_subscriber, billing_plan, post_event, settings)
    return billing_subscriber


@pytest.fixture
def paid_purchase(
    stripe_emulator: Emulator,
    billing_subscriber: Subscriber,
    billing_token_package: Any,
    post_event: Callable[..., Any],
    settings: Any,
) -> Any:
    """The ``Payment`` of ``billing_token_package`` bought by ``billing_subscriber``, paid
    and credited."""
    return buy(stripe_emulator, billing_subscriber, billing_token_package, post_event, settings)
