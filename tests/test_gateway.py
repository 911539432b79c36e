"""The gateway runs the real SDK against real-shaped HTTP answers."""

from __future__ import annotations

import logging

import pytest

from fiko_billing import gateway as gw
from fiko_billing.testing import payloads


def test_create_sends_form_params_key_version_and_idempotency_key(stripe_stub):
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id="cus_1"))
    result = gw.get_gateway().create_customer(
        {"email": "a@example.com", "metadata": {"fiko_subscriber": "7"}}, idempotency_key="k-1"
    )
    assert result["id"] == "cus_1"
    assert isinstance(result, dict)
    (call,) = stripe_stub.requests
    assert call.params == {"email": "a@example.com", "metadata[fiko_subscriber]": "7"}
    assert call.headers["idempotency-key"] == "k-1"
    assert call.headers["stripe-version"] == "2026-10-28.endive"
    assert call.headers["authorization"] == "Bearer sk_test_fiko"


def test_post_without_idempotency_key_is_refused(stripe_stub):
    with pytest.raises(ValueError, match="idempotency key"):
        gw.get_gateway().request("post", "/v1/customers", {})
    assert stripe_stub.requests == []


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            402,
            payloads.error(
                "Your card has insufficient funds.",
                type="card_error",
                code="card_declined",
                decline_code="insufficient_funds",
            ),
            gw.CardDeclined,
        ),
        (
            400,
            payloads.error("Received unknown parameter: x", code="parameter_unknown"),
            gw.StripeInvalidRequest,
        ),
        (
            404,
            payloads.error("No such customer: 'cus_x'", code="resource_missing", param="id"),
            gw.StripeResourceMissing,
        ),
        (
            401,
            payloads.error("Invalid API Key provided: sk_test_****fiko"),
            gw.StripeAuthenticationFailed,
        ),
        (429, payloads.error("Too many requests", code="rate_limit"), gw.StripeRateLimited),
        (500, payloads.error("Something went wrong", type="api_error"), gw.StripeUnavailable),
    ],
)
def test_stripe_errors_map_to_our_exceptions(stripe_stub, status, body, expected):
    stripe_stub.on("GET", "/v1/customers/cus_x", body, status=status)
    with pytest.raises(expected) as info:
        gw.get_gateway().retrieve_customer("cus_x")
    assert type(info.value) is expected
    assert info.value.http_status == status
    assert info.value.request_id is not None
    assert info.value.request_id.startswith("req_stub")


def test_connection_refused_is_unavailable(settings):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "STRIPE_MAX_NETWORK_RETRIES": 0,
    }
    with pytest.raises(gw.StripeUnavailable):
        gw.get_gateway().retrieve_customer("cus_x")


def test_disabled_billing_refuses_to_build_a_gateway(settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "ENABLED": False}
    with pytest.raises(gw.StripeDisabled):
        gw.get_gateway()


def test_every_call_is_logged_without_the_secret(stripe_stub, caplog):
    stripe_stub.on("GET", "/v1/customers/cus_1", payloads.customer(id="cus_1"))
    with caplog.at_level(logging.INFO, logger="fiko_billing.stripe"):
        gw.get_gateway().retrieve_customer("cus_1")
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "stripe GET /v1/customers/cus_1 status=200 request_id=req_stub"
    )
    assert "duration_ms=" in record.getMessage()
    assert "sk_test_fiko" not in caplog.text


def test_list_all_follows_pages(stripe_stub):
    first = [payloads.product(id=f"prod_{i}") for i in range(2)]
    second = [payloads.product(id="prod_2")]

    def answer(request):
        if request.params.get("starting_after") == "prod_1":
            return payloads.list_of(second, url="/v1/products")
        return payloads.list_of(first, url="/v1/products", has_more=True)

    stripe_stub.on("GET", "/v1/products", answer)
    ids = [
        p["id"] for p in gw.get_gateway().list_all("/v1/products", {"active": "true"}, page_size=2)
    ]
    assert ids == ["prod_0", "prod_1", "prod_2"]
    assert [r.params.get("starting_after") for r in stripe_stub.requests] == [None, "prod_1"]
