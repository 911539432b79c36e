"""The gateway runs the real SDK against real-shaped HTTP answers."""

from __future__ import annotations

import logging
import time

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


# ---------------------------------------------------------------------- retries and time budgets


@pytest.fixture
def quick_backoff(monkeypatch):
    monkeypatch.setattr(gw.budget, "RETRY_INITIAL_DELAY", 0.01)


def retrying(settings, retries=2, **extra):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "STRIPE_MAX_NETWORK_RETRIES": retries,
        **extra,
    }


def test_a_retry_resends_the_same_idempotency_key(stripe_stub, settings, quick_backoff):
    retrying(settings)
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id="cus_1"))
    stripe_stub.on(
        "POST", "/v1/customers", payloads.error("boom", type="api_error"), status=500, times=1
    )
    gw.get_gateway().create_customer({"email": "a@example.com"}, idempotency_key="k-1")
    first, second = stripe_stub.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == "k-1"
    assert first.params == second.params


@pytest.mark.parametrize(
    ("status", "headers_say", "tries"),
    [
        (500, None, 3),
        (409, None, 3),
        (503, "false", 1),
        (429, None, 1),
        (429, "true", 3),
        (400, None, 1),
    ],
)
def test_what_is_retried_and_how_often(
    stripe_stub, settings, quick_backoff, status, headers_say, tries
):
    retrying(settings)
    stripe_stub.on(
        "GET",
        "/v1/customers/cus_x",
        payloads.error("no", type="api_error"),
        status=status,
        headers={} if headers_say is None else {"Stripe-Should-Retry": headers_say},
    )
    with pytest.raises(gw.StripeGatewayError):
        gw.get_gateway().retrieve_customer("cus_x")
    assert len(stripe_stub.requests) == tries


def test_a_slow_stripe_is_cut_off_at_the_budget_not_after_the_timeout(stripe_stub, settings):
    """Timeout 30 s and 2 retries used to mean about 92 s; a budget bounds all of it."""
    retrying(settings, STRIPE_TIMEOUT=30, STRIPE_REQUEST_TIME_BUDGET=0.3)
    stripe_stub.on("GET", "/v1/customers/cus_1", payloads.customer(id="cus_1"), delay=30)
    started = time.monotonic()
    with pytest.raises(gw.StripeTimeout) as info:
        gw.get_gateway().retrieve_customer("cus_1")
    assert time.monotonic() - started < 5
    assert str(info.value) == (
        "Stripe did not answer GET /v1/customers/cus_1 within the time budget (0.3 s)."
    )
    assert info.value.code == "stripe_timeout"
    assert isinstance(info.value, gw.StripeUnavailable)
    assert len(stripe_stub.requests) == 1, "no retry is started without time left for it"


def test_a_timed_out_attempt_is_retried_while_the_budget_lasts(
    stripe_stub, settings, quick_backoff
):
    retrying(settings, STRIPE_TIMEOUT=0.2, STRIPE_REQUEST_TIME_BUDGET=3)
    stripe_stub.on("GET", "/v1/customers/cus_1", payloads.customer(id="cus_1"))
    stripe_stub.on("GET", "/v1/customers/cus_1", payloads.customer(id="cus_1"), delay=30, times=1)
    assert gw.get_gateway().retrieve_customer("cus_1")["id"] == "cus_1"
    assert len(stripe_stub.requests) == 2


def test_calls_in_one_budget_share_it(stripe_stub, settings):
    retrying(settings, retries=0)
    stripe_stub.on("GET", "/v1/customers/cus_1", payloads.customer(id="cus_1"), delay=0.3)
    gateway = gw.get_gateway()
    with gw.time_budget(0.5):
        gateway.retrieve_customer("cus_1")
        with pytest.raises(gw.StripeTimeout):
            gateway.retrieve_customer("cus_1")
    # Outside the budget a call gets the request budget of its own again.
    gateway.retrieve_customer("cus_1")
    assert len(stripe_stub.requests) == 3


def test_each_call_budget_and_nesting_never_extends(stripe_stub, settings):
    retrying(settings, retries=0)
    stripe_stub.on("GET", "/v1/customers/cus_1", payloads.customer(id="cus_1"), delay=0.3)
    stripe_stub.on("GET", "/v1/customers/cus_slow", payloads.customer(id="cus_slow"), delay=1)
    gateway = gw.get_gateway()
    with gw.time_budget(0.5, each_call=True):
        gateway.retrieve_customer("cus_1")
        gateway.retrieve_customer("cus_1")  # 0.6 s in all: each call has its own 0.5 s
        with gw.time_budget(60, each_call=True), pytest.raises(gw.StripeTimeout):
            gateway.retrieve_customer("cus_slow")  # still 0.5 s
    with (
        gw.time_budget(0.2),
        gw.time_budget(60, each_call=True),
        pytest.raises(gw.StripeTimeout, match=r"within the time budget \(0\.2 s\)"),
    ):
        gateway.retrieve_customer("cus_1")  # bounded by the outer 0.2 s
    assert len(stripe_stub.requests) == 4


def test_without_a_budget_each_call_gets_the_request_budget(stripe_stub, settings):
    retrying(settings, retries=0, STRIPE_REQUEST_TIME_BUDGET=0.2)
    stripe_stub.on("GET", "/v1/customers/cus_1", payloads.customer(id="cus_1"), delay=30)
    with pytest.raises(gw.StripeTimeout):
        gw.get_gateway().retrieve_customer("cus_1")


def test_commands_get_their_own_longer_budget(stripe_stub, settings):
    retrying(settings, retries=0, STRIPE_REQUEST_TIME_BUDGET=0.1, STRIPE_COMMAND_TIME_BUDGET=5)
    stripe_stub.on("GET", "/v1/customers/cus_1", payloads.customer(id="cus_1"), delay=0.3)
    with gw.command_time_budget():
        assert gw.get_gateway().retrieve_customer("cus_1")["id"] == "cus_1"
    with pytest.raises(gw.StripeTimeout):
        gw.get_gateway().retrieve_customer("cus_1")


@pytest.mark.parametrize("seconds", [0, -1, float("nan")])
def test_a_budget_must_be_positive(seconds):
    with pytest.raises(ValueError, match="more than zero"), gw.time_budget(seconds):
        pass
