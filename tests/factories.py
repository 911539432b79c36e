"""factory-boy factories for our models; a test reads like the story it checks."""

from __future__ import annotations

from typing import Any

import factory
from django.conf import settings
from django.contrib.auth import get_user_model

from fiko_billing import models
from fiko_billing.subscribers import get_subscriber_model


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("password")


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "testapp.Organisation"

    name = factory.Sequence(lambda n: f"Organisation {n}")
    email = factory.LazyAttribute(lambda o: f"billing@org{o.name.split()[-1]}.example.com")


def SubscriberFactory(**kwargs: Any) -> Any:
    """A subscriber of whichever model FIKO_BILLING_SUBSCRIBER_MODEL names."""
    model = get_subscriber_model()
    if model is get_user_model():
        return UserFactory(**kwargs)
    if model._meta.label == "testapp.Organisation":
        return OrganisationFactory(**kwargs)
    raise AssertionError(f"no factory for {model} ({settings.AUTH_USER_MODEL})")


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Plan

    name = factory.Sequence(lambda n: f"Plan {n}")
    interval = models.Interval.MONTH
    tokens_per_period = 10_000


class TokenPackageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.TokenPackage

    name = factory.Sequence(lambda n: f"Package {n}")
    tokens = 1_000


class PlanPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Price

    plan = factory.SubFactory(PlanFactory)
    package = None
    currency = "usd"
    unit_amount = 500


class PackagePriceFactory(PlanPriceFactory):
    plan = None
    package = factory.SubFactory(TokenPackageFactory)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Customer

    subscriber = factory.LazyFunction(SubscriberFactory)
    stripe_customer_id = factory.Sequence(lambda n: f"cus_test{n:08d}")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Subscription

    customer = factory.SubFactory(CustomerFactory)
    subscriber = factory.LazyAttribute(lambda o: o.customer.subscriber)
    stripe_subscription_id = factory.Sequence(lambda n: f"sub_test{n:08d}")
    plan = factory.SubFactory(PlanFactory)
    status = models.SubscriptionStatus.ACTIVE


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Payment

    subscriber = factory.LazyFunction(SubscriberFactory)
    kind = models.PaymentKind.TOKEN_PACKAGE
    package = factory.SubFactory(TokenPackageFactory)
    amount = 500
    currency = "usd"
    stripe_checkout_session_id = factory.Sequence(lambda n: f"cs_test_{n:08d}")


class WebhookEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.WebhookEvent

    stripe_event_id = factory.Sequence(lambda n: f"evt_test{n:08d}")
    type = "invoice.paid"
    api_version = "2026-10-28.endive"
    payload = factory.LazyAttribute(
        lambda o: {"id": o.stripe_event_id, "object": "event", "type": o.type, "data": {}}
    )
    stripe_created = factory.Faker("date_time", tzinfo=__import__("datetime").UTC)
