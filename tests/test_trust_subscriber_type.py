"""Every public function that takes a subscriber refuses an instance of another model.

The attack this closes: with an organisation as the subscriber, passing
``request.user`` (as the README's ``consume(request.user, ...)`` did) acted on
the organisation whose primary key equals the user's, spending another
tenant's tokens. Here the other model's instance always shares its primary
key with a subscriber that has tokens, a customer and a subscription, so a
function that looked only at ``pk`` would visibly touch that tenant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model

from fiko_billing import signals, tokens
from fiko_billing.gateway import get_gateway
from fiko_billing.models import TokenPackage
from fiko_billing.services import checkout, customers, erasure, plan_change_preview, subscriptions
from fiko_billing.subscribers import get_subscriber_model
from fiko_billing.testing import payloads
from tests.factories import (
    OrganisationFactory,
    PackagePriceFactory,
    SubscriberFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def other_model_instance(pk: int) -> Any:
    """A saved instance of the model that is *not* the subscriber model, with ``pk``."""
    if get_subscriber_model() is get_user_model():
        return OrganisationFactory(pk=pk)
    return UserFactory(pk=pk)  # request.user, while organisations pay


@pytest.fixture
def tenant(stripe_stub: Any) -> Any:
    """A subscriber with tokens, a reservation, a customer and a live subscription."""
    subscription = SubscriptionFactory()
    subscriber = subscription.subscriber
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_tenant")
    tokens.reserve(subscriber, 10, reference="job-1")
    PackagePriceFactory(stripe_price_id="price_x")
    return subscriber


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every fiko_billing table, to prove nothing changed."""
    return {
        model._meta.label: sorted(model._default_manager.values_list(), key=repr)
        for model in apps.get_app_config("fiko_billing").get_models()
    }


CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "tokens.balance": lambda x, _t: tokens.balance(x),
    "tokens.credit": lambda x, _t: tokens.credit(x, 5, kind="adjustment", reference="r1"),
    "tokens.consume": lambda x, _t: tokens.consume(x, 5),
    "tokens.revoke": lambda x, _t: tokens.revoke(x, 5, reference="r2"),
    "tokens.adjust": lambda x, _t: tokens.adjust(x, -5, reason="wrong tenant"),
    "tokens.reserve": lambda x, _t: tokens.reserve(x, 5),
    "tokens.get_reservation": lambda x, _t: tokens.get_reservation(x, "job-1"),
    "tokens.settle": lambda x, t: tokens.settle(
        tokens.Reservation(tokens.get_reservation(t, "job-1").pk, x, 10, "job-1"), 10
    ),
    "tokens.release": lambda x, t: tokens.release(
        tokens.Reservation(tokens.get_reservation(t, "job-1").pk, x, 10, "job-1")
    ),
    "tokens.expire_due": lambda x, _t: tokens.expire_due(subscriber=x),
    "checkout.has_active_plan": lambda x, _t: checkout.has_active_plan(x),
    "checkout.start_checkout": lambda x, _t: checkout.start_checkout(
        x,
        plan_type="token",
        plan_id=TokenPackage.objects.get().pk,
        currency=None,
        quantity=1,
        gateway=get_gateway(),
    ),
    "customers.subscriber_metadata": lambda x, _t: customers.subscriber_metadata(x),
    "customers.ensure_customer": lambda x, _t: customers.ensure_customer(x, get_gateway()),
    "customers.customer_of": lambda x, _t: customers.customer_of(x),
    "subscriptions.current_subscription": lambda x, _t: subscriptions.current_subscription(x),
    "subscriptions.cancel": lambda x, _t: subscriptions.cancel(
        x, immediately=True, gateway=get_gateway()
    ),
    "subscriptions.resume": lambda x, _t: subscriptions.resume(x, gateway=get_gateway()),
    "subscriptions.change_plan": lambda x, _t: subscriptions.change_plan(
        x, plan_id=1, gateway=get_gateway()
    ),
    "plan_change_preview.preview_plan_change": lambda x, _t: (
        plan_change_preview.preview_plan_change(x, plan_id=1, gateway=get_gateway())
    ),
    "subscriptions.mirror_subscription": lambda x, t: subscriptions.mirror_subscription(
        payloads.subscription(
            id=t.billing_subscriptions.get().stripe_subscription_id,
            customer_id=t.billing_customer.stripe_customer_id,
            price_obj=payloads.price(product_id="prod_x", unit_amount=500, interval="month"),
        ),
        state_at=None,
        subscriber=x,
    ),
    "erasure.erase_subscriber": lambda x, _t: erasure.erase_subscriber(
        x, delete_stripe_customer=True
    ),
    "signals.send_on_commit": lambda x, _t: signals.send_on_commit(
        signals.payment_succeeded, object, subscriber=x, payment=None
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_another_models_instance_raises_type_error_and_changes_nothing(
    name: str, tenant: Any, stripe_stub: Any
) -> None:
    intruder = other_model_instance(pk=tenant.pk)
    before = snapshot()
    with pytest.raises(TypeError, match=f"expected an instance of {tenant._meta.label}"):
        CALLS[name](intruder, tenant)
    assert snapshot() == before
    assert stripe_stub.requests == []  # and Stripe was never asked


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_plain_object_with_a_pk_is_refused_too(name: str, tenant: Any) -> None:
    class Impostor:
        pk = tenant.pk

    before = snapshot()
    with pytest.raises(TypeError):
        CALLS[name](Impostor(), tenant)
    assert snapshot() == before


def test_the_readme_snippet_with_request_user_cannot_spend_an_organisations_tokens(
    tenant: Any,
) -> None:
    """``tokens.consume(request.user, ...)`` while organisations pay: refused, not misrouted."""
    user = other_model_instance(pk=tenant.pk)
    with pytest.raises(TypeError):
        tokens.consume(user, 5)
    assert tokens.balance(tenant) == 90  # 100 credited, 10 held


def test_signal_receivers_get_the_subscriber_model(
    tenant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[Any] = []

    def receiver(sender: Any, subscriber: Any, **kwargs: Any) -> None:
        seen.append(subscriber)

    watched = [
        signals.tokens_credited,
        signals.tokens_debited,
        signals.subscription_deactivated,
        signals.subscription_updated,
    ]
    for signal in watched:
        signal.connect(receiver, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            tokens.consume(tenant, 5)
            tokens.get_reservation(tenant, "job-1").settle(3)
            row = tenant.billing_subscriptions.get()
            subscriptions.mirror_subscription(
                payloads.subscription(
                    id=row.stripe_subscription_id,
                    customer_id=tenant.billing_customer.stripe_customer_id,
                    price_obj=payloads.price(product_id="prod_x", unit_amount=500),
                    status="canceled",
                ),
                state_at=None,
            )
    finally:
        for signal in watched:
            signal.disconnect(receiver)
    assert len(seen) >= 4
    assert all(type(subscriber) is get_subscriber_model() for subscriber in seen)
    assert {subscriber.pk for subscriber in seen} == {tenant.pk}


def test_a_subscriber_of_the_right_model_works(tenant: Any) -> None:
    other = SubscriberFactory()
    tokens.credit(other, 7, kind="purchase", reference="cs_other")
    assert tokens.balance(other) == 7
    assert tokens.balance(tenant) == 90
