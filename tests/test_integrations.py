"""The entitlement helpers in a host's stack: sessions, templates, DRF and django-ninja."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured

from fiko_billing import tokens
from fiko_billing.models import SubscriptionStatus
from fiko_billing.subscribers import get_subscriber_model
from tests.factories import PlanFactory, SubscriberFactory, SubscriptionFactory, UserFactory
from tests.resolvers import bearer_client, member_user

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.integration_urls")]

END = datetime(2026, 4, 1, tzinfo=UTC)
PROCESSOR = "fiko_billing.context_processors.billing"


@pytest.fixture
def with_processor(settings):
    options = settings.TEMPLATES[0]["OPTIONS"]
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {
                **options,
                "context_processors": [*options["context_processors"], PROCESSOR],
            },
        }
    ]


def subscribed(plan_name="Pro", **fields):
    row = SubscriptionFactory(plan=PlanFactory(name=plan_name), current_period_end=END, **fields)
    return row.subscriber


# ---------------------------------------------------------------------- plain Django


def test_a_session_user_reaches_the_view_as_its_subscriber(client):
    """The suite's session resolver: the user itself, or the organisation it belongs to."""
    row = SubscriptionFactory(plan=PlanFactory(name="Pro"))
    client.force_login(member_user(row.subscriber))

    assert client.get("/report/").json() == {"plan": "Pro"}
    client.logout()
    assert client.get("/report/").status_code == 401


@pytest.mark.parametrize("resolver", [None, "fiko_billing.subscribers.resolve_request_user"])
def test_the_default_resolver_never_lets_a_user_act_for_an_organisation(
    client, settings, resolver
):
    """With users as subscribers it answers request.user; elsewhere it is refused, loudly."""
    if resolver is not None:
        settings.FIKO_BILLING = {**settings.FIKO_BILLING, "SUBSCRIBER_RESOLVER": resolver}
    else:
        settings.FIKO_BILLING = {
            k: v for k, v in settings.FIKO_BILLING.items() if k != "SUBSCRIBER_RESOLVER"
        }
    row = SubscriptionFactory(plan=PlanFactory(name="Pro"))
    user = row.subscriber if isinstance(row.subscriber, get_user_model()) else UserFactory()
    client.force_login(user)

    if get_subscriber_model() is get_user_model():
        assert client.get("/report/").json() == {"plan": "Pro"}
    else:
        with pytest.raises(ImproperlyConfigured, match=r"instance of testapp\.Organisation"):
            client.get("/report/")


def test_the_configured_resolver_is_the_one_used(client, settings):
    api = bearer_client(client, settings, subscribed("Team"))

    assert api.get("/report/").json() == {"plan": "Team"}


def test_consumes_tokens_charges_through_the_resolver(client, settings):
    api = bearer_client(client, settings, SubscriberFactory())
    tokens.credit(api.subscriber, 15, kind="purchase", reference="cs_1")

    assert api.post("/summary/", headers={"Idempotency-Key": "a"}).status_code == 200
    assert api.post("/summary/", headers={"Idempotency-Key": "a"}).status_code == 409
    assert api.post("/summary/", headers={"Idempotency-Key": "b"}).status_code == 402
    assert tokens.balance(api.subscriber) == 5


# ---------------------------------------------------------------------- templates


def test_the_context_processor_shows_plan_status_period_and_balance(
    client, settings, with_processor, django_assert_max_num_queries
):
    api = bearer_client(client, settings, subscribed(status=SubscriptionStatus.TRIALING))
    tokens.credit(api.subscriber, 1_200, kind="purchase", reference="cs_1")

    # The resolver's query, then the entitlement and the balance, however often it is read.
    with django_assert_max_num_queries(3):
        response = api.get("/page/")

    assert response.content.decode() == "Pro (trialing) until 2026-04-01, 1200 tokens"


def test_the_context_processor_costs_nothing_when_unused(
    client, settings, with_processor, django_assert_num_queries
):
    api = bearer_client(client, settings, subscribed())

    with django_assert_num_queries(0):
        assert api.get("/plain/").content == b"nothing about billing"


def test_the_context_processor_without_a_subscriber(client, settings, with_processor):
    bearer_client(client, settings, SubscriberFactory())
    client.defaults.pop("HTTP_AUTHORIZATION")

    assert client.get("/page/").content.decode() == "no plan, 0 tokens"


def test_the_context_processor_for_a_user_without_a_billing_account(
    client, settings, with_processor
):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": "tests.test_access.resolve_missing_account",
    }
    client.force_login(UserFactory())

    assert client.get("/page/").content.decode() == "no plan, 0 tokens"


def test_the_template_tag_shows_any_subscribers_state(django_assert_max_num_queries):
    from django.template import engines

    subscriber = subscribed("Business")
    tokens.credit(subscriber, 7, kind="purchase", reference="cs_1")
    page = engines["django"].from_string(
        "{% load fiko_billing %}{% billing_state org as state %}"
        "{{ state.plan.name }}/{{ state.status }}/{{ state.token_balance }}/"
        "{{ state.cancel_at_period_end }}"
    )

    with django_assert_max_num_queries(2):
        assert page.render({"org": subscriber}) == "Business/active/7/False"


# ---------------------------------------------------------------------- DRF


def test_drf_permission_lets_an_entitled_subscriber_in(client, settings):
    api = bearer_client(client, settings, subscribed())

    assert api.get("/drf/report/").json() == {"plan": "Pro"}
    assert api.get("/drf/pro/").json() == {"plan": "Pro"}


def test_drf_permission_answers_402_without_a_plan(client, settings):
    api = bearer_client(client, settings, SubscriberFactory())

    response = api.get("/drf/report/")

    assert response.status_code == 402
    assert response.json() == {"detail": "An active subscription is required for this."}


def test_drf_permission_answers_403_for_another_plan(client, settings):
    api = bearer_client(client, settings, subscribed("Basic"))

    response = api.get("/drf/pro/")

    assert response.status_code == 403
    assert response.json() == {"detail": "Your plan does not include this."}


def test_drf_permission_without_a_subscriber_is_drfs_own_answer(client):
    response = client.get("/drf/report/")

    assert response.status_code in (401, 403)
    assert "subscription" not in response.json()["detail"]


def test_drf_and_ninja_refuse_a_user_without_a_billing_account(client, settings):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": "tests.test_access.resolve_missing_account",
    }
    client.force_login(UserFactory())

    drf = client.get("/drf/report/")
    ninja = client.get("/ninja/report")

    assert (drf.status_code, drf.json()) == (
        403,
        {"detail": "You are signed in, but no billing account belongs to you."},
    )
    assert (ninja.status_code, ninja.json()["error"]["code"]) == (403, "no_billing_account")


def test_drf_codes_are_stable():
    from fiko_billing.contrib.drf import PaymentRequired, PlanNotAllowed

    assert PaymentRequired().get_codes() == "subscription_required"
    assert PlanNotAllowed().get_codes() == "plan_not_allowed"
    assert (PaymentRequired.status_code, PlanNotAllowed.status_code) == (402, 403)


# ---------------------------------------------------------------------- django-ninja


def test_ninja_auth_gives_the_subscriber_to_the_operation(client, settings):
    api = bearer_client(client, settings, subscribed())

    assert api.get("/ninja/report").json() == {"subscriber": api.subscriber.pk}
    assert api.get("/ninja/pro").json() == {"subscriber": api.subscriber.pk}


def test_ninja_denials_in_our_envelope(client, settings):
    api = bearer_client(client, settings, SubscriberFactory())

    response = api.get("/ninja/report")

    assert response.status_code == 402
    assert response.json() == {
        "error": {
            "code": "subscription_required",
            "message": "An active subscription is required for this.",
        }
    }
    api.defaults["HTTP_AUTHORIZATION"] = f"Bearer sub-{subscribed('Basic').pk}"
    response = api.get("/ninja/pro")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plan_not_allowed"


def test_ninja_denials_without_the_envelope_are_ninjas_http_errors(client, settings):
    api = bearer_client(client, settings, SubscriberFactory())

    response = api.get("/ninja-plain/report")

    assert response.status_code == 402
    assert response.json() == {"detail": "An active subscription is required for this."}


def test_ninja_without_a_subscriber_is_401(client):
    assert client.get("/ninja/report").status_code == 401


# ---------------------------------------------------------------------- optional imports


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": ""},
        cwd=str(__import__("pathlib").Path(__file__).resolve().parent.parent),
    )


BLOCK = """
import sys
for name in ("rest_framework", "ninja"):
    sys.modules[name] = None  # as if not installed: importing it raises ImportError
"""


def test_the_package_imports_without_drf_or_ninja():
    result = run_python(
        BLOCK
        + """
import django
django.setup()
import fiko_billing.access, fiko_billing.context_processors, fiko_billing.contrib
import fiko_billing.entitlements, fiko_billing.metering, fiko_billing.urls
import fiko_billing.templatetags.fiko_billing, fiko_billing.admin
print("imported")
"""
    )

    assert (result.returncode, result.stdout.strip()) == (0, "imported"), result.stderr


@pytest.mark.parametrize(
    ("module", "library", "extra"),
    [("drf", "djangorestframework", "drf"), ("ninja", "django-ninja", "ninja")],
)
def test_a_contrib_module_names_its_extra_when_the_library_is_missing(module, library, extra):
    result = run_python(
        BLOCK
        + f"""
import django
django.setup()
try:
    import fiko_billing.contrib.{module}
except ImportError as exc:
    print(exc)
"""
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"fiko_billing.contrib.{module} needs {library}, which is not installed: "
        f'pip install "fiko-billing[{extra}]"'
    )
