"""Creating a subscriber's Stripe customer: a failed attempt never blocks the next, and
never leaves the subscriber with two customers.

The stub stores each POST's answer under its idempotency key and replays it,
failures included, as Stripe does for 24 hours.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from fiko_billing.conf import subscriber_model_label
from fiko_billing.gateway import get_gateway
from fiko_billing.models import Customer
from fiko_billing.services.customers import ensure_customer
from fiko_billing.testing import payloads
from tests.factories import PackagePriceFactory, SubscriberFactory
from tests.resolvers import bearer_client
from tests.stripe_stub import Recorded

pytestmark = pytest.mark.django_db

URL = "/billing/stripe/checkout-session/"
BOOM = (500, payloads.error("Something went wrong on Stripe's end.", type="api_error"))


@pytest.fixture
def api(client: Any, settings: Any, stripe_stub: Any) -> Any:
    stripe_stub.remember_idempotency_keys()
    stripe_stub.on(
        "POST",
        "/v1/checkout/sessions",
        lambda r: payloads.checkout_session(customer_id=r.params["customer"]),
    )
    api = bearer_client(client, settings, SubscriberFactory())
    api.package = PackagePriceFactory(stripe_price_id="price_p").package
    return api


def checkout(api: Any) -> Any:
    return api.post(
        URL,
        data=json.dumps({"plan_type": "token", "plan_id": api.package.pk}),
        content_type="application/json",
    )


def ours(subscriber: Any, **overrides: Any) -> dict[str, Any]:
    return payloads.customer(
        metadata={
            "fiko_subscriber": str(subscriber.pk),
            "fiko_subscriber_model": subscriber_model_label(),
        },
        **overrides,
    )


def test_a_500_stored_for_the_first_attempt_does_not_block_the_second(api, stripe_stub):
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id="cus_second"))
    stripe_stub.on("POST", "/v1/customers", BOOM, times=1)  # newest route first
    stripe_stub.on("GET", "/v1/customers", payloads.list_of([], url="/v1/customers"))

    assert checkout(api).status_code == 502
    assert checkout(api).status_code == 200

    first, second = stripe_stub.calls("POST", "/v1/customers")
    assert first.headers["idempotency-key"] != second.headers["idempotency-key"]
    assert first.params == second.params
    assert Customer.objects.get().stripe_customer_id == "cus_second"
    assert Customer.objects.get().creation_attempted_at is None


def test_a_customer_an_unanswered_attempt_created_is_adopted(api, stripe_stub):
    lost = ours(api.subscriber, id="cus_lost", email=api.subscriber.email)

    def created_then_500(request: Recorded) -> tuple[int, dict[str, Any]]:
        return BOOM  # Stripe made the customer, but the answer is a 500

    stripe_stub.on("POST", "/v1/customers", created_then_500)
    stripe_stub.on(
        "GET",
        "/v1/customers",
        payloads.list_of(
            [
                ours(SubscriberFactory(), id="cus_someone_else", email=api.subscriber.email),
                payloads.customer(id="cus_unrelated", email=api.subscriber.email),
                lost,
            ],
            url="/v1/customers",
        ),
    )
    assert checkout(api).status_code == 502
    row = Customer.objects.get()
    assert row.stripe_customer_id is None
    assert row.creation_attempted_at is not None

    assert checkout(api).status_code == 200

    assert len(stripe_stub.calls("POST", "/v1/customers")) == 1, "no second customer"
    (listing,) = stripe_stub.calls("GET", "/v1/customers")
    attempted = int(row.creation_attempted_at.timestamp())
    assert listing.params == {
        "created[gte]": str(attempted - 60),
        "created[lte]": str(attempted + 900),
        "email": api.subscriber.email,
        "limit": "100",
    }
    row.refresh_from_db()
    assert (row.stripe_customer_id, row.creation_attempted_at) == ("cus_lost", None)
    (session,) = stripe_stub.calls("POST", "/v1/checkout/sessions")
    assert session.params["customer"] == "cus_lost"


def test_a_timed_out_attempt_is_looked_for_too(api, stripe_stub, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_REQUEST_TIME_BUDGET": 0.3}
    stripe_stub.on("POST", "/v1/customers", ours(api.subscriber, id="cus_late"), delay=30)
    stripe_stub.on(
        "GET",
        "/v1/customers",
        payloads.list_of([ours(api.subscriber, id="cus_late")], url="/v1/customers"),
    )
    response = checkout(api)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "stripe_timeout"

    assert checkout(api).status_code == 200
    assert Customer.objects.get().stripe_customer_id == "cus_late"
    assert len(stripe_stub.calls("POST", "/v1/customers")) == 1


def test_several_found_keeps_the_oldest(api, stripe_stub, caplog):
    stripe_stub.on("POST", "/v1/customers", BOOM)
    stripe_stub.on("GET", "/v1/customers", payloads.list_of([], url="/v1/customers"), times=1)
    assert checkout(api).status_code == 502
    assert checkout(api).status_code == 502  # found nothing, tried again
    first_attempt = Customer.objects.get().creation_attempted_at
    # Both attempts were made after all; newest first, as Stripe lists them.
    stripe_stub.on(
        "GET",
        "/v1/customers",
        payloads.list_of(
            [
                ours(api.subscriber, id="cus_b", created=2_000_000_001),
                ours(api.subscriber, id="cus_a", created=2_000_000_000),
            ],
            url="/v1/customers",
        ),
    )
    assert checkout(api).status_code == 200
    assert Customer.objects.get().stripe_customer_id == "cus_a"
    assert "the others (cus_b) can be deleted" in caplog.text
    # The window reaches back to the first unanswered attempt.
    last_listing = stripe_stub.calls("GET", "/v1/customers")[-1]
    assert last_listing.params["created[gte]"] == str(int(first_attempt.timestamp()) - 60)


def test_a_refused_attempt_leaves_nothing_to_look_for(api, stripe_stub):
    """A 4xx means Stripe created nothing: the next attempt creates without listing."""
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id="cus_ok"))
    stripe_stub.on(
        "POST", "/v1/customers", (400, payloads.error("Invalid email address")), times=1
    )
    assert checkout(api).status_code == 502
    assert Customer.objects.count() == 0
    assert checkout(api).status_code == 200
    assert stripe_stub.calls("GET", "/v1/customers") == []


def test_the_service_raises_and_then_recovers(api, stripe_stub):
    stripe_stub.on("POST", "/v1/customers", payloads.customer(id="cus_2"))
    stripe_stub.on("POST", "/v1/customers", BOOM, times=1)
    stripe_stub.on("GET", "/v1/customers", payloads.list_of([], url="/v1/customers"))
    with pytest.raises(Exception, match="Something went wrong"):
        ensure_customer(api.subscriber, get_gateway())
    assert ensure_customer(api.subscriber, get_gateway()).stripe_customer_id == "cus_2"
    keys = [r.headers["idempotency-key"] for r in stripe_stub.calls("POST", "/v1/customers")]
    assert len(set(keys)) == 2
    assert all(
        re.fullmatch(
            rf"fiko:customer:{re.escape(subscriber_model_label())}:{api.subscriber.pk}:[0-9a-f]{{32}}",
            key,
        )
        for key in keys
    )
