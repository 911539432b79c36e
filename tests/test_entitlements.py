"""fiko_billing.entitlements: has the subscriber an active plan, which, until when."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from fiko_billing import tokens
from fiko_billing.entitlements import (
    BillingState,
    Entitlement,
    billing_state,
    entitlement,
    has_active_plan,
)
from fiko_billing.models import SubscriptionStatus
from fiko_billing.subscribers import get_subscriber_model
from tests.factories import (
    OrganisationFactory,
    PlanFactory,
    SubscriberFactory,
    SubscriptionFactory,
    TokenPackageFactory,
    UserFactory,
)

END = datetime(2026, 4, 1, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def other_model_instance():
    """A saved instance of a model that is not the subscriber model."""
    if get_subscriber_model() is get_user_model():
        return OrganisationFactory()
    return UserFactory()


def subscribed(status=SubscriptionStatus.ACTIVE, **fields):
    row = SubscriptionFactory(status=status, **{"current_period_end": END, **fields})
    return row.subscriber, row


@pytest.mark.parametrize(
    "status", [SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE]
)
def test_an_entitled_status_gives_the_plan_until_the_period_end(status, django_assert_num_queries):
    subscriber, row = subscribed(status, plan__name="Pro")

    with django_assert_num_queries(1):
        current = entitlement(subscriber)

    assert current == Entitlement(
        active=True,
        plan=row.plan,
        status=status,
        current_period_end=END,
        cancel_at_period_end=False,
        subscription=row,
    )
    assert current
    assert current.plan.name == "Pro"  # loaded with the subscription, no further query


@pytest.mark.parametrize(
    "status",
    [
        SubscriptionStatus.INCOMPLETE,
        SubscriptionStatus.INCOMPLETE_EXPIRED,
        SubscriptionStatus.CANCELED,
        SubscriptionStatus.UNPAID,
        SubscriptionStatus.PAUSED,
    ],
)
def test_other_statuses_give_nothing(status):
    subscriber, _row = subscribed(status)

    current = entitlement(subscriber)

    assert current == Entitlement(False, None, "none", None, False, None)
    assert not current
    assert not has_active_plan(subscriber)


def test_a_recurring_token_package_is_not_a_plan():
    subscriber, _row = subscribed(plan=None, package=TokenPackageFactory(interval="month"))

    assert not has_active_plan(subscriber)


def test_a_recurring_token_package_ending_later_does_not_hide_the_plan():
    subscriber, plan_row = subscribed(current_period_end=datetime(2026, 3, 1, tzinfo=UTC))
    SubscriptionFactory(
        customer=plan_row.customer,
        subscriber=subscriber,
        plan=None,
        package=TokenPackageFactory(interval="month"),
        current_period_end=END,
    )

    assert entitlement(subscriber).subscription == plan_row


def test_a_scheduled_cancellation_still_entitles_until_the_period_end():
    by_flag, _ = subscribed(cancel_at_period_end=True)
    by_date, _ = subscribed(cancel_at=END)

    for subscriber in (by_flag, by_date):
        current = entitlement(subscriber)
        assert current.active
        assert current.cancel_at_period_end
        assert current.current_period_end == END


def test_the_plan_whose_period_ends_last_counts():
    subscriber, old = subscribed(current_period_end=datetime(2026, 3, 1, tzinfo=UTC))
    newest = SubscriptionFactory(
        customer=old.customer, subscriber=subscriber, current_period_end=END
    )

    assert entitlement(subscriber).subscription == newest


def test_another_subscribers_plan_does_not_count():
    subscribed()
    stranger = SubscriberFactory()

    assert not has_active_plan(stranger)


def test_plans_select_by_instance_primary_key_or_name(django_assert_num_queries):
    pro = PlanFactory(name="Pro")
    basic = PlanFactory(name="Basic")
    subscriber, _row = subscribed(plan=pro)

    with django_assert_num_queries(1):
        assert has_active_plan(subscriber, plans=[pro])
    assert has_active_plan(subscriber, plans=[pro.pk])
    assert has_active_plan(subscriber, plans=["Pro"])
    assert has_active_plan(subscriber, plans=[basic, "Pro"])
    assert has_active_plan(subscriber)
    assert not has_active_plan(subscriber, plans=[basic])
    assert not has_active_plan(subscriber, plans=[basic.pk, "pro", "Basic"])
    assert not has_active_plan(subscriber, plans=[])


@pytest.mark.parametrize("wrong", [True, 1.0, None])
def test_a_plan_selector_of_another_type_raises(wrong):
    subscriber, _row = subscribed()

    with pytest.raises(TypeError, match="Plan instances, primary keys or names"):
        has_active_plan(subscriber, plans=[wrong])


@pytest.mark.parametrize("function", [entitlement, has_active_plan, billing_state])
def test_an_instance_of_another_model_is_refused(function):
    """An organisation's user must never read the organisation with the same key."""
    stranger = other_model_instance()

    with pytest.raises(TypeError, match="expected an instance of"):
        function(stranger)


@pytest.mark.parametrize("function", [entitlement, has_active_plan, billing_state])
def test_an_unsaved_subscriber_is_refused(function):
    with pytest.raises(ValueError, match="must be saved"):
        function(get_subscriber_model()())


def test_billing_state_has_plan_status_period_and_balance_in_two_queries(
    django_assert_num_queries,
):
    subscriber, row = subscribed(SubscriptionStatus.PAST_DUE, cancel_at_period_end=True)
    tokens.credit(subscriber, 1_500, kind="purchase", reference="cs_1")

    with django_assert_num_queries(2):
        state = billing_state(subscriber)

    assert state == BillingState(subscriber, entitlement(subscriber), 1_500)
    assert (state.active, state.plan, state.status) == (True, row.plan, "past_due")
    assert (state.current_period_end, state.cancel_at_period_end) == (END, True)
    assert state.token_balance == 1_500


def test_billing_state_of_nobody_is_empty_and_free(django_assert_num_queries):
    with django_assert_num_queries(0):
        state = billing_state(None)

    assert state.subscriber is None
    assert (state.active, state.plan, state.status, state.token_balance) == (
        False,
        None,
        "none",
        0,
    )
