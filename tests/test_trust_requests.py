"""Who may call the JSON API: resolvers that find nobody, CSRF, and what a body must be.

CSRF is skipped only for requests the resolver authenticated by a header
credential and says so (``HeaderAuthenticated``), never because a header is
present: browsers send ``Authorization: Negotiate/NTLM/Digest/Basic`` on
their own, and a forged request may carry any header. POST bodies must be
declared JSON, so a cross-site ``<form>`` (text/plain, urlencoded,
multipart) never reaches a view.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.test.client import MULTIPART_CONTENT, encode_multipart

from fiko_billing import tokens, urls
from fiko_billing.models import Subscription
from fiko_billing.subscribers import get_subscriber_model
from tests.factories import (
    OrganisationFactory,
    SubscriberFactory,
    SubscriptionFactory,
    UserFactory,
)
from tests.resolvers import bearer, member_user, session_client
from tests.test_openapi import documented

pytestmark = pytest.mark.django_db

CSRF_SECRET = "fikoCsrfSecretForTests0123456789"
CANCEL = "/billing/subscription/cancel/"
POSTS = [
    ("/billing/stripe/checkout-session/", {"plan_type": "token", "plan_id": 1}),
    ("/billing/stripe/customer-portal/", {}),
    (CANCEL, {}),
    ("/billing/subscription/resume/", {}),
    ("/billing/subscription/change/", {"plan_id": 1}),
    ("/billing/subscription/change/preview/", {"plan_id": 1}),
]
#: ``Authorization`` values a browser may send by itself, or an attacker's page may add.
AMBIENT_AUTHORIZATION = [
    "Negotiate YIIJvwYGKwYBBQUCoIIJszCCCa+gMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYB",
    "NTLM TlRMTVNTUAABAAAAl4II4gAAAAAAAAAAAAAAAAAAAAAKAO5CAAAADw==",
    'Digest username="alice", realm="shop", nonce="x", uri="/", response="y"',
    "Basic YWxpY2U6c2VjcmV0",
    "Bearer garbage",
    "Bearer sub-99999999",
    "Bearer",
]


@pytest.fixture
def subscribed(settings: Any, stripe_stub: Any) -> Any:
    """A subscriber with a live subscription, and a browser logged in for it."""
    subscription = SubscriptionFactory(stripe_subscription_id="sub_live")
    return session_client(settings, subscription.subscriber)


def post_json(client: Client, url: str, body: Any, **extra: Any) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", **extra)


# ---------------------------------------------------------------------- CSRF


def test_posts_lists_every_json_endpoint_that_takes_a_post() -> None:
    """A new POST endpoint is covered by the CSRF and media-type tests below."""
    endpoints = [
        pattern
        for pattern in urls.urlpatterns
        if hasattr(pattern.callback, "input_form")  # made by @endpoint
        and "POST" in pattern.callback.allowed_methods
    ]
    assert sorted(f"/billing/{pattern.pattern}" for pattern in endpoints) == sorted(
        url for url, _body in POSTS
    )


@pytest.mark.parametrize("authorization", AMBIENT_AUTHORIZATION)
@pytest.mark.parametrize(("url", "body"), POSTS)
def test_a_cookie_request_with_any_authorization_header_still_needs_the_csrf_token(
    subscribed: Client, stripe_stub: Any, authorization: str, url: str, body: Any
) -> None:
    subscribed.cookies["csrftoken"] = CSRF_SECRET
    response = post_json(subscribed, url, body, HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 403
    assert documented(response)["error"]["code"] == "csrf_failed"
    assert stripe_stub.requests == []
    assert Subscription.objects.get().cancel_at_period_end is False


def test_a_valid_bearer_token_needs_no_csrf_token(subscribed: Client, stripe_stub: Any) -> None:
    """The resolver authenticated it by the header (``HeaderAuthenticated``): not forgeable."""
    api = Client(enforce_csrf_checks=True)
    response = post_json(
        api, "/billing/subscription/resume/", {}, HTTP_AUTHORIZATION=bearer(subscribed.subscriber)
    )
    # Past authentication and CSRF: the subscription is not scheduled to cancel.
    assert response.status_code == 409
    assert documented(response)["error"]["code"] == "not_canceling"


def test_a_valid_bearer_token_beside_the_session_cookie_skips_csrf_as_well(
    subscribed: Client,
) -> None:
    response = post_json(
        subscribed,
        "/billing/subscription/resume/",
        {},
        HTTP_AUTHORIZATION=bearer(subscribed.subscriber),
    )
    assert documented(response)["error"]["code"] == "not_canceling"


def test_the_session_with_the_csrf_token_is_let_through(subscribed: Client) -> None:
    subscribed.cookies["csrftoken"] = CSRF_SECRET
    response = post_json(
        subscribed, "/billing/subscription/resume/", {}, HTTP_X_CSRFTOKEN=CSRF_SECRET
    )
    assert documented(response)["error"]["code"] == "not_canceling"


def test_a_resolver_returning_the_bare_subscriber_for_a_bearer_token_keeps_csrf(
    settings: Any, subscribed: Client
) -> None:
    """Only the resolver's explicit statement skips CSRF; a plain answer never does."""
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": "tests.test_trust_requests.unwrapped_bearer",
    }
    api = Client(enforce_csrf_checks=True)
    response = post_json(
        api, "/billing/subscription/resume/", {}, HTTP_AUTHORIZATION=bearer(subscribed.subscriber)
    )
    assert documented(response)["error"]["code"] == "csrf_failed"


def unwrapped_bearer(request: Any) -> Any:
    from tests.resolvers import bearer_subscriber

    resolved = bearer_subscriber(request)
    return None if resolved is None else resolved.subscriber


# ---------------------------------------------------------------------- content type


CROSS_SITE_FORMS = [
    ("text/plain", b'{"immediately": true}'),
    ("text/plain", b'{"immediately": true, "x": "="}'),
    ("application/x-www-form-urlencoded", b"immediately=true"),
    ("text/plain", b""),
]


@pytest.mark.parametrize(("content_type", "body"), CROSS_SITE_FORMS)
def test_a_cross_site_form_is_refused_before_it_can_cancel(
    subscribed: Client, stripe_stub: Any, content_type: str, body: bytes
) -> None:
    # Even with the CSRF token (a same-site page), a form body is not JSON.
    subscribed.cookies["csrftoken"] = CSRF_SECRET
    response = subscribed.post(
        CANCEL,
        data=body,
        content_type=content_type,
        HTTP_X_CSRFTOKEN=CSRF_SECRET,
        CONTENT_TYPE=content_type,  # sent by a browser even for an empty form
    )
    assert response.status_code == 415
    assert documented(response)["error"]["code"] == "unsupported_media_type"
    assert stripe_stub.requests == []


@pytest.mark.parametrize(("content_type", "body"), CROSS_SITE_FORMS)
def test_a_cross_site_form_without_the_token_is_refused(
    subscribed: Client, stripe_stub: Any, content_type: str, body: bytes
) -> None:
    response = subscribed.post(
        CANCEL, data=body, content_type=content_type, CONTENT_TYPE=content_type
    )
    assert response.status_code in (403, 415)
    assert stripe_stub.requests == []
    assert Subscription.objects.get().cancel_at_period_end is False


@pytest.mark.parametrize(("url", "body"), POSTS)
def test_multipart_is_415_not_a_500(
    settings: Any, stripe_stub: Any, url: str, body: dict[str, Any]
) -> None:
    api = Client(raise_request_exception=True)
    subscriber = SubscriberFactory()
    from tests.resolvers import use_bearer_resolver

    use_bearer_resolver(settings)
    response = api.post(
        url,
        data=encode_multipart("BoUnDaRy", {"plan_id": "1", "file": "x" * 10}),
        content_type="multipart/form-data; boundary=BoUnDaRy",
        HTTP_AUTHORIZATION=bearer(subscriber),
    )
    assert response.status_code == 415
    assert documented(response)["error"]["code"] == "unsupported_media_type"
    assert MULTIPART_CONTENT.startswith("multipart/form-data")


def test_json_with_a_charset_and_a_post_without_a_body_are_accepted(
    settings: Any, stripe_stub: Any
) -> None:
    from tests.resolvers import use_bearer_resolver

    use_bearer_resolver(settings)
    subscriber = SubscriberFactory()
    api = Client(HTTP_AUTHORIZATION=bearer(subscriber))
    with_charset = api.post(
        "/billing/subscription/resume/", data=b"{}", content_type="application/json; charset=utf-8"
    )
    assert documented(with_charset)["error"]["code"] == "no_subscription"
    bare = api.generic("POST", "/billing/subscription/resume/", b"")
    assert documented(bare)["error"]["code"] == "no_subscription"


# ---------------------------------------------------------------------- resolvers


def resolver_like_the_old_docs(request: Any) -> Any:
    """``request.user.organisation``: raises for a signed-in user without one."""
    if not request.user.is_authenticated:
        return None
    return request.user.membership.organisation


def resolver_finding_nobody(request: Any) -> Any:
    return None


@pytest.mark.parametrize("resolver", ["resolver_like_the_old_docs", "resolver_finding_nobody"])
@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", "/billing/account/"), ("GET", "/billing/payments/"), ("POST", CANCEL)],
)
def test_a_signed_in_user_without_a_billing_account_is_403_not_500_or_401(
    settings: Any, resolver: str, method: str, url: str
) -> None:
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": f"tests.test_trust_requests.{resolver}",
    }
    browser = Client(raise_request_exception=True)
    browser.force_login(UserFactory())  # a member of no organisation
    response = browser.generic(method, url, b"{}", content_type="application/json")
    assert response.status_code == 403
    assert documented(response)["error"] == {
        "code": "no_billing_account",
        "message": "You are signed in, but no billing account belongs to you.",
    }


@pytest.mark.parametrize("resolver", ["resolver_like_the_old_docs", "resolver_finding_nobody"])
def test_nobody_signed_in_is_401(settings: Any, resolver: str) -> None:
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": f"tests.test_trust_requests.{resolver}",
    }
    response = Client().get("/billing/account/")
    assert response.status_code == 401
    assert documented(response)["error"]["code"] == "not_authenticated"


def resolver_returning_the_other_model(request: Any) -> Any:
    """What the default resolver does when organisations pay: the user, not an organisation."""
    if get_subscriber_model() is get_user_model():
        return OrganisationFactory(pk=request.user.pk)
    return request.user


def test_a_resolver_answering_another_model_is_a_configuration_error_never_acted_upon(
    settings: Any,
) -> None:
    tenant = SubscriberFactory()
    tokens.credit(tenant, 50, kind="purchase", reference="cs_1")
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": "tests.test_trust_requests.resolver_returning_the_other_model",
    }
    # The user shares its primary key with the tenant: the old, silent mix-up.
    user = tenant if get_subscriber_model() is get_user_model() else UserFactory(pk=tenant.pk)
    browser = Client()
    browser.force_login(user)
    with pytest.raises(ImproperlyConfigured, match=r"fiko_billing\.E012"):
        browser.get("/billing/account/")
    assert tokens.balance(tenant) == 50


def test_the_documented_organisation_resolver_resolves_members_only(settings: Any) -> None:
    organisation_or_user = SubscriberFactory()
    browser = session_client(
        settings, organisation_or_user, resolver="tests.resolvers.session_subscriber"
    )
    assert documented(browser.get("/billing/account/"))["token_balance"] == 0
    stranger = Client()
    stranger.force_login(UserFactory())
    expected = 200 if get_subscriber_model() is get_user_model() else 403
    assert stranger.get("/billing/account/").status_code == expected
    assert member_user(organisation_or_user).is_authenticated
