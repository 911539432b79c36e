"""POST stripe/customer-portal/: a Stripe Customer Portal session, never an open redirect."""

from __future__ import annotations

import json
import re

import pytest

from fiko_billing.testing import payloads
from tests.factories import CustomerFactory, SubscriberFactory
from tests.resolvers import bearer_client
from tests.test_openapi import documented

URL = "/billing/stripe/customer-portal/"
DEFAULT_RETURN_URL = "http://localhost:8000/billing/return/portal/"
STRIPE_FAILED = "The payment provider could not process the request. Please try again."


@pytest.fixture
def api(client, settings, db):
    customer = CustomerFactory(stripe_customer_id="cus_portal")
    api = bearer_client(client, settings, customer.subscriber)
    api.customer = customer
    return api


def post(client, body=None, **extra):
    data = "" if body is None else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **extra)


def route_portal(stripe_stub):
    stripe_stub.on(
        "POST",
        "/v1/billing_portal/sessions",
        lambda r: payloads.portal_session(
            id="bps_1", customer_id=r.params["customer"], return_url=r.params["return_url"]
        ),
    )


@pytest.mark.django_db
def test_portal_session_for_the_subscribers_customer(api, stripe_stub, django_assert_num_queries):
    route_portal(stripe_stub)
    # resolver, customer
    with django_assert_num_queries(2):
        response = post(api)
    assert response.status_code == 200, response.content
    assert documented(response) == {"url": "https://billing.stripe.com/p/session/bps_1"}
    (call,) = stripe_stub.requests
    assert (call.method, call.path) == ("POST", "/v1/billing_portal/sessions")
    assert call.params == {"customer": "cus_portal", "return_url": DEFAULT_RETURN_URL}
    assert re.fullmatch(r"fiko:portal:[0-9a-f]{32}", call.headers["idempotency-key"])


@pytest.mark.django_db
def test_each_portal_request_is_a_new_stripe_request(api, stripe_stub):
    route_portal(stripe_stub)
    assert post(api).status_code == 200
    assert post(api, {}).status_code == 200
    first, second = (r.headers["idempotency-key"] for r in stripe_stub.requests)
    assert first != second


@pytest.mark.django_db
def test_a_flow_opens_the_portal_on_it_and_comes_back_to_the_return_url(api, stripe_stub):
    route_portal(stripe_stub)
    response = post(api, {"flow": "payment_method_update"})
    assert response.status_code == 200, response.content
    (call,) = stripe_stub.requests
    assert call.params == {
        "customer": "cus_portal",
        "return_url": DEFAULT_RETURN_URL,
        "flow_data[type]": "payment_method_update",
        "flow_data[after_completion][type]": "redirect",
        "flow_data[after_completion][redirect][return_url]": DEFAULT_RETURN_URL,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("flow", ["subscription_cancel", "", 5, None, ["payment_method_update"]])
def test_a_flow_we_do_not_offer_is_400_without_calling_stripe(api, stripe_stub, flow):
    response = post(api, {"flow": flow})
    assert response.status_code == 400
    error = documented(response)["error"]
    assert (error["code"], list(error["fields"])) == ("invalid_input", ["flow"])
    assert stripe_stub.requests == []


@pytest.mark.django_db
def test_default_return_url_follows_the_setting(api, stripe_stub, settings):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "PORTAL_RETURN_URL": "https://app.example.com/account/",
    }
    route_portal(stripe_stub)
    assert post(api).status_code == 200
    assert stripe_stub.requests[0].params["return_url"] == "https://app.example.com/account/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "return_url",
    [
        "http://testserver/settings/billing/",  # the request's own host
        "https://testserver/settings/",
        "http://localhost:8000/elsewhere/?tab=plan",  # the host of PORTAL_RETURN_URL
        "https://app.example.com/account/",  # ALLOWED_REDIRECT_HOSTS
    ],
)
def test_a_return_url_on_an_allowed_host_is_passed_on(api, stripe_stub, settings, return_url):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "ALLOWED_REDIRECT_HOSTS": ["APP.example.com"],
    }
    route_portal(stripe_stub)
    response = post(api, {"return_url": return_url})
    assert response.status_code == 200, response.content
    documented(response)
    assert stripe_stub.requests[0].params == {"customer": "cus_portal", "return_url": return_url}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example.com/",
        "//evil.example.com",
        "//evil.example.com/billing/",
        "javascript:alert(1)",
        "/relative/path/",
        "relative/path",
        "https://testserver@evil.example.com/",
        "https://testserver.evil.example.com/",
        "http://evil.example.com\\@testserver/",
        "https:///evil.example.com/",
        "ftp://testserver/file",
        "data:text/html,<script>alert(1)</script>",
    ],
)
def test_an_open_redirect_is_refused_without_calling_stripe(api, stripe_stub, return_url):
    response = post(api, {"return_url": return_url})
    assert response.status_code == 400, return_url
    assert documented(response) == {
        "error": {
            "code": "return_url_not_allowed",
            "message": "'return_url' must be an absolute URL on an allowed host.",
            "fields": {"return_url": "This host is not allowed."},
        }
    }
    assert stripe_stub.requests == []


@pytest.mark.django_db
def test_outside_test_mode_the_return_url_must_be_https(api, stripe_stub, settings):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "TEST_MODE": False,
        "PORTAL_RETURN_URL": "https://app.example.com/account/",
    }
    route_portal(stripe_stub)
    response = post(api, {"return_url": "http://app.example.com/account/"})
    assert response.status_code == 400
    assert documented(response)["error"]["code"] == "return_url_not_allowed"
    assert post(api, {"return_url": "https://app.example.com/account/"}).status_code == 200
    assert [r.params["return_url"] for r in stripe_stub.requests] == [
        "https://app.example.com/account/"
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"return_url": 5}', "invalid_input"),
        ('{"return_url": ""}', "invalid_input"),
        ('{"return_url": ["http://testserver/"]}', "invalid_input"),
        ("{not json", "invalid_json"),
        ('"http://testserver/"', "invalid_json"),
    ],
)
def test_bad_input_is_400(api, stripe_stub, body, code):
    response = api.post(URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert documented(response)["error"]["code"] == code
    assert stripe_stub.requests == []


@pytest.mark.django_db
def test_an_oversized_body_is_400(api, stripe_stub):
    body = json.dumps({"return_url": "http://testserver/", "padding": "x" * 70_000})
    response = api.post(URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert documented(response)["error"]["code"] == "body_too_large"
    assert stripe_stub.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize("stripe_customer_id", ["none", None])
def test_before_the_first_checkout_there_is_no_customer(
    client, settings, stripe_stub, stripe_customer_id
):
    subscriber = SubscriberFactory()
    if stripe_customer_id is None:
        CustomerFactory(subscriber=subscriber, stripe_customer_id=None)
    api = bearer_client(client, settings, subscriber)
    response = post(api)
    assert response.status_code == 404
    assert documented(response) == {
        "error": {
            "code": "no_customer",
            "message": "There is no billing account yet: buy a plan or tokens first.",
        }
    }
    assert stripe_stub.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (500, "api_error", STRIPE_FAILED),
        (400, "invalid_request_error", STRIPE_FAILED),
        (401, "invalid_request_error", STRIPE_FAILED),
        (
            429,
            "invalid_request_error",
            "The payment provider is busy. Please try again in a moment.",
        ),
    ],
)
def test_a_stripe_failure_is_502(api, stripe_stub, status, error_type, message):
    stripe_stub.on(
        "POST",
        "/v1/billing_portal/sessions",
        payloads.error("No configuration", type=error_type),
        status=status,
    )
    response = post(api)
    assert response.status_code == 502
    # Stripe's own message may name account details: the customer sees ours.
    assert documented(response) == {"error": {"code": "stripe_error", "message": message}}
    assert len(stripe_stub.requests) == 1


@pytest.mark.django_db
def test_stripe_unreachable_is_502(api, settings):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "STRIPE_TIMEOUT": 2,
    }
    response = post(api)
    assert response.status_code == 502
    assert documented(response)["error"]["code"] == "stripe_error"


@pytest.mark.django_db
def test_anonymous_is_401_and_get_is_405(client, stripe_stub):
    response = post(client)
    assert response.status_code == 401
    assert documented(response)["error"]["code"] == "not_authenticated"
    response = client.get(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert documented(response)["error"]["code"] == "method_not_allowed"
    assert stripe_stub.requests == []


@pytest.mark.django_db
def test_billing_disabled_is_503(api, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "ENABLED": False}
    response = post(api)
    assert response.status_code == 503
    assert documented(response)["error"]["code"] == "billing_disabled"


@pytest.mark.django_db
def test_no_secret_key_is_503(api, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_SECRET_KEY": ""}
    response = post(api)
    assert response.status_code == 503
    assert documented(response)["error"]["code"] == "billing_disabled"
