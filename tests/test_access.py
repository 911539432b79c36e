"""subscription_required and SubscriptionRequiredMixin: 401, 402 or 403 in our envelope."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory
from django.views import View

from fiko_billing.access import Denial, SubscriptionRequiredMixin, subscription_required
from fiko_billing.models import SubscriptionStatus
from tests.factories import PlanFactory, SubscriberFactory, SubscriptionFactory
from tests.resolvers import bearer, use_bearer_resolver
from tests.test_entitlements import other_model_instance

pytestmark = pytest.mark.django_db

calls: list[object] = []


@pytest.fixture(autouse=True)
def _bearer(settings):
    use_bearer_resolver(settings)
    calls.clear()


def request_as(subscriber=None, method="get"):
    headers = {"Authorization": bearer(subscriber)} if subscriber is not None else {}
    return getattr(RequestFactory(), method)("/feature/", headers=headers)


def body(response):
    return json.loads(response.content)


@subscription_required
def any_plan(request, item_id=None):
    calls.append((request.billing_subscriber, request.billing_entitlement, item_id))
    return JsonResponse({"ok": item_id})


@subscription_required(plans=["Pro"])
def pro_only(request):
    calls.append(request.billing_subscriber)
    return HttpResponse("pro")


class ProFeature(SubscriptionRequiredMixin, View):
    subscription_plans = ("Pro",)

    def get(self, request):
        calls.append(request.billing_subscriber)
        return HttpResponse("pro")


class AnyPlanFeature(SubscriptionRequiredMixin, View):
    def get(self, request):
        calls.append(request.billing_subscriber)
        return HttpResponse("any")


class RedirectingFeature(AnyPlanFeature):
    def handle_not_entitled(self, request, denial):
        return HttpResponse(f"see pricing ({denial.code})", status=303)


VIEWS = {
    "decorator": any_plan,
    "mixin": AnyPlanFeature.as_view(),
}
PRO_VIEWS = {"decorator": pro_only, "mixin": ProFeature.as_view()}


@pytest.mark.parametrize("kind", VIEWS)
def test_no_subscriber_is_401(kind):
    response = VIEWS[kind](request_as(None))

    assert response.status_code == 401
    assert body(response) == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
        }
    }
    assert calls == []


@pytest.mark.parametrize("kind", VIEWS)
@pytest.mark.parametrize(
    "status", [None, SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE, "unpaid"]
)
def test_no_active_plan_is_402(kind, status):
    subscriber = SubscriberFactory()
    if status is not None:
        SubscriptionFactory(customer__subscriber=subscriber, subscriber=subscriber, status=status)

    response = VIEWS[kind](request_as(subscriber))

    assert response.status_code == 402
    assert body(response) == {
        "error": {
            "code": "subscription_required",
            "message": "An active subscription is required for this.",
        }
    }
    assert calls == []


@pytest.mark.parametrize("kind", PRO_VIEWS)
def test_another_plan_is_403(kind):
    row = SubscriptionFactory(plan=PlanFactory(name="Basic"))

    response = PRO_VIEWS[kind](request_as(row.subscriber))

    assert response.status_code == 403
    assert body(response) == {
        "error": {"code": "plan_not_allowed", "message": "Your plan does not include this."}
    }
    assert calls == []


@pytest.mark.parametrize("kind", PRO_VIEWS)
def test_the_accepted_plan_runs_the_view_in_two_queries(kind, django_assert_max_num_queries):
    row = SubscriptionFactory(plan=PlanFactory(name="Pro"), status=SubscriptionStatus.TRIALING)
    request = request_as(row.subscriber)

    # One for the bearer resolver, one for the entitlement.
    with django_assert_max_num_queries(2):
        response = PRO_VIEWS[kind](request)

    assert (response.status_code, response.content) == (200, b"pro")
    assert calls == [row.subscriber]


def test_the_view_gets_its_arguments_the_subscriber_and_the_entitlement():
    row = SubscriptionFactory()

    response = any_plan(request_as(row.subscriber), item_id=7)

    assert body(response) == {"ok": 7}
    [(subscriber, current, item_id)] = calls
    assert (subscriber, current.plan, current.subscription, item_id) == (
        row.subscriber,
        row.plan,
        row,
        7,
    )


def test_another_subscribers_plan_does_not_let_a_request_in():
    SubscriptionFactory()
    stranger = SubscriberFactory()

    assert any_plan(request_as(stranger)).status_code == 402


def test_a_resolver_answering_another_model_fails_loudly(settings):
    """A user resolved where organisations pay must not borrow an organisation's plan."""
    from django.core.exceptions import ImproperlyConfigured

    row = SubscriptionFactory()
    stranger = other_model_instance()
    stranger.pk = row.subscriber.pk
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": "tests.test_access.resolve_stranger",
    }
    resolved.append(stranger)

    with pytest.raises(ImproperlyConfigured, match="returned an unusable subscriber"):
        any_plan(request_as(None))
    assert calls == []


resolved: list[object] = []


def resolve_stranger(request):
    return resolved[-1]


def resolve_by_header(request):
    """A resolver that says a header, not the session, authenticated the request."""
    from fiko_billing.subscribers import HeaderAuthenticated

    return HeaderAuthenticated(resolved[-1])


def resolve_missing_account(request):
    """A resolver for a signed-in user without an organisation."""
    from django.core.exceptions import ObjectDoesNotExist

    raise ObjectDoesNotExist("user has no organisation")


def test_a_header_authenticated_answer_is_unwrapped(settings):
    row = SubscriptionFactory()
    resolved.append(row.subscriber)
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": "tests.test_access.resolve_by_header",
    }

    assert any_plan(request_as(None)).status_code == 200
    assert calls[0][0] == row.subscriber


@pytest.mark.parametrize("kind", VIEWS)
def test_a_signed_in_user_without_a_billing_account_is_403(kind, settings):
    from tests.factories import UserFactory

    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": "tests.test_access.resolve_missing_account",
    }
    request = request_as(None)
    request.user = UserFactory()

    response = VIEWS[kind](request)

    assert response.status_code == 403
    assert body(response) == {
        "error": {
            "code": "no_billing_account",
            "message": "You are signed in, but no billing account belongs to you.",
        }
    }
    assert calls == []


def test_the_mixin_denial_can_be_answered_differently():
    response = RedirectingFeature.as_view()(request_as(SubscriberFactory()))

    assert (response.status_code, response.content) == (
        303,
        b"see pricing (subscription_required)",
    )


def test_plans_may_be_primary_keys_and_instances():
    pro = PlanFactory(name="Pro")
    row = SubscriptionFactory(plan=pro)
    by_key = subscription_required(plans=[pro.pk])(lambda request: HttpResponse("ok"))
    by_instance = subscription_required(plans=[pro])(lambda request: HttpResponse("ok"))
    others = subscription_required(plans=[pro.pk + 1])(lambda request: HttpResponse("ok"))

    assert by_key(request_as(row.subscriber)).status_code == 200
    assert by_instance(request_as(row.subscriber)).status_code == 200
    assert others(request_as(row.subscriber)).status_code == 403


def test_async_views_are_refused_when_decorated():
    async def view(request):
        return HttpResponse()

    with pytest.raises(TypeError, match="sync views only"):
        subscription_required(view)


def test_a_denial_is_the_api_error_envelope():
    response = Denial(402, "subscription_required", "Pay first.").response()

    assert response.status_code == 402
    assert response["Content-Type"] == "application/json"
    assert body(response) == {"error": {"code": "subscription_required", "message": "Pay first."}}
