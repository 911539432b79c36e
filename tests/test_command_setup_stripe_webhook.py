"""``setup_stripe_webhook``: one endpoint per URL with exactly the events we handle."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from fiko_billing.conf import PINNED_API_VERSION
from fiko_billing.services.events import handled_event_types
from fiko_billing.testing import payloads
from tests.stripe_stub import StripeStub

URL = "https://shop.example.com/billing/stripe/webhook/"
EVENTS = handled_event_types()
SECRET = "whsec_created_once_0123456789"


def endpoint(endpoint_id: str = "we_1", **fields: Any) -> dict[str, Any]:
    """A webhook endpoint as Stripe lists it (the secret is only in the create answer)."""
    obj: dict[str, Any] = {
        "id": endpoint_id,
        "object": "webhook_endpoint",
        "api_version": PINNED_API_VERSION,
        "application": None,
        "created": 1_900_000_000,
        "description": "fiko-billing",
        "enabled_events": list(EVENTS),
        "livemode": False,
        "metadata": {},
        "status": "enabled",
        "url": URL,
    }
    obj.update(fields)
    return obj


def listed(stub: StripeStub, *endpoints: dict[str, Any]) -> None:
    stub.on(
        "GET",
        "/v1/webhook_endpoints",
        payloads.list_of(list(endpoints), url="/v1/webhook_endpoints"),
    )


def indexed(name: str, values: list[str]) -> dict[str, str]:
    """A list parameter as the SDK encodes it: ``name[0]``, ``name[1]``, ..."""
    return {f"{name}[{i}]": value for i, value in enumerate(values)}


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("setup_stripe_webhook", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: str) -> CommandError:
    with pytest.raises(CommandError) as raised:
        call_command("setup_stripe_webhook", *args, stdout=io.StringIO(), stderr=io.StringIO())
    return raised.value


def test_the_event_list_is_the_registry_and_sorted():
    assert sorted(EVENTS) == EVENTS
    assert {"checkout.session.completed", "invoice.paid", "charge.refunded"} <= set(EVENTS)


# --------------------------------------------------------------------------- create


def test_no_endpoint_for_the_url_creates_one_and_prints_the_secret_once(stripe_stub):
    listed(stripe_stub, endpoint("we_other", url="https://other.example.com/hook/"))
    stripe_stub.on(
        "POST",
        "/v1/webhook_endpoints",
        endpoint("we_new", secret=SECRET, enabled_events=list(EVENTS)),
    )

    out, err = run("--url", URL)

    assert [(r.method, r.path) for r in stripe_stub.requests] == [
        ("GET", "/v1/webhook_endpoints"),
        ("POST", "/v1/webhook_endpoints"),
    ]
    create = stripe_stub.requests[1]
    assert create.params == {
        "url": URL,
        "api_version": PINNED_API_VERSION,
        "description": "fiko-billing",
        **indexed("enabled_events", EVENTS),
    }
    assert create.headers["idempotency-key"].startswith("fiko:webhook_endpoint:")
    assert create.headers["stripe-version"] == PINNED_API_VERSION
    assert out == (
        f"Created webhook endpoint we_new for {URL} "
        f"({len(EVENTS)} event types, API version {PINNED_API_VERSION}).\n"
        "Signing secret (shown once; store it as STRIPE_WEBHOOK_SECRET):\n"
        f"  {SECRET}\n"
    )
    assert out.count(SECRET) == 1
    assert err == ""


def test_http_url_is_accepted_in_test_mode(stripe_stub):
    url = "http://127.0.0.1:8000/billing/stripe/webhook/"
    listed(stripe_stub)
    stripe_stub.on("POST", "/v1/webhook_endpoints", endpoint("we_new", url=url, secret=SECRET))
    out, _err = run("--url", url)
    assert stripe_stub.calls("POST", "/v1/webhook_endpoints")[0].params["url"] == url
    assert out.startswith(f"Created webhook endpoint we_new for {url} ")


def test_the_endpoint_is_found_on_a_later_page(stripe_stub):
    stripe_stub.on(
        "GET",
        "/v1/webhook_endpoints",
        lambda r: (
            payloads.list_of([endpoint("we_1")], url="/v1/webhook_endpoints")
            if r.params.get("starting_after") == "we_0"
            else payloads.list_of(
                [endpoint("we_0", url="https://other.example.com/")],
                url="/v1/webhook_endpoints",
                has_more=True,
            )
        ),
    )
    out, _err = run("--url", URL)
    assert out == f"Webhook endpoint we_1 for {URL} is up to date.\n"
    assert stripe_stub.writes() == []


# --------------------------------------------------------------------------- update


def test_an_endpoint_with_other_events_gets_only_its_events_updated(stripe_stub):
    listed(stripe_stub, endpoint("we_1", enabled_events=["charge.succeeded", "invoice.paid"]))
    stripe_stub.on("POST", "/v1/webhook_endpoints/we_1", endpoint("we_1"))

    out, err = run("--url", URL)

    (update,) = stripe_stub.writes()
    assert update.path == "/v1/webhook_endpoints/we_1"
    assert update.params == indexed("enabled_events", EVENTS)
    assert update.headers["idempotency-key"].startswith("fiko:webhook_endpoint:")
    assert out == (
        "Updated webhook endpoint we_1: enabled_events. The signing secret is unchanged.\n"
    )
    assert "whsec" not in out
    assert err == ""


def test_a_disabled_endpoint_is_enabled_again(stripe_stub):
    listed(stripe_stub, endpoint("we_1", status="disabled"))
    stripe_stub.on("POST", "/v1/webhook_endpoints/we_1", endpoint("we_1"))

    out, _err = run("--url", URL)

    (update,) = stripe_stub.writes()
    assert update.params == {"disabled": "false"}
    assert out == ("Updated webhook endpoint we_1: disabled. The signing secret is unchanged.\n")


def test_events_in_another_order_are_up_to_date(stripe_stub):
    listed(stripe_stub, endpoint("we_1", enabled_events=list(reversed(EVENTS))))
    out, err = run("--url", URL)
    assert (out, err) == (f"Webhook endpoint we_1 for {URL} is up to date.\n", "")
    assert stripe_stub.writes() == []


def test_an_up_to_date_endpoint_is_left_alone(stripe_stub):
    listed(stripe_stub, endpoint("we_1"))
    out, err = run("--url", URL)
    assert (out, err) == (f"Webhook endpoint we_1 for {URL} is up to date.\n", "")
    assert [(r.method, r.path) for r in stripe_stub.requests] == [("GET", "/v1/webhook_endpoints")]


def test_another_api_version_is_a_warning_to_recreate(stripe_stub):
    listed(stripe_stub, endpoint("we_1", api_version="2024-06-20"))

    out, err = run("--url", URL)

    assert err == (
        "Endpoint we_1 renders events with API version 2024-06-20; Stripe cannot change that "
        "on an existing endpoint. Delete it and run this command again to get one with "
        f"{PINNED_API_VERSION}.\n"
    )
    assert out == f"Webhook endpoint we_1 for {URL} is up to date.\n"
    assert stripe_stub.writes() == []


def test_the_account_default_version_is_not_warned_about(stripe_stub):
    listed(stripe_stub, endpoint("we_1", api_version=None))
    _out, err = run("--url", URL)
    assert err == ""


# --------------------------------------------------------------------------- dry run


def test_dry_run_does_not_create(stripe_stub):
    listed(stripe_stub)
    out, _err = run("--url", URL, "--dry-run")
    listing = "\n".join(f"  - {e}" for e in EVENTS)
    assert out == (
        f"Would create a webhook endpoint for {URL}\n"
        f"  API version {PINNED_API_VERSION}\n  events:\n{listing}\n"
    )
    assert stripe_stub.writes() == []


def test_dry_run_does_not_update(stripe_stub):
    listed(stripe_stub, endpoint("we_1", enabled_events=["charge.succeeded"]))
    out, _err = run("--url", URL, "--dry-run")
    listing = "\n".join(f"  - {e}" for e in EVENTS)
    assert out == f"Would update webhook endpoint we_1: enabled_events\n  events:\n{listing}\n"
    assert stripe_stub.writes() == []


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "url", ["not a url", "shop.example.com/hook/", "ftp://shop.example.com/hook/", "https://"]
)
def test_an_invalid_url_is_refused_without_calling_stripe(stripe_stub, url):
    error = run_failing("--url", url)
    assert str(error) == f"--url is not a valid URL: {url!r}"
    assert stripe_stub.requests == []


def test_http_url_outside_test_mode_is_refused(stripe_stub, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "TEST_MODE": False}
    error = run_failing("--url", "http://shop.example.com/billing/stripe/webhook/")
    assert str(error) == "Stripe delivers live events to https URLs only."
    assert stripe_stub.requests == []


def test_url_is_required():
    error = run_failing()
    assert str(error) == "Error: the following arguments are required: --url"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/webhook_endpoints"), ("POST", "/v1/webhook_endpoints")],
)
def test_a_stripe_failure_names_the_request(stripe_stub, method, path):
    listed(stripe_stub)
    stripe_stub.on(method, path, payloads.error("Try again later", type="api_error"), status=500)

    error = run_failing("--url", URL)

    number = len(stripe_stub.requests)
    assert str(error) == f"Stripe failed: Try again later (request req_stub{number:06d})"
    assert stripe_stub.requests[-1].path == path
