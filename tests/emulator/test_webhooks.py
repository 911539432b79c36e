"""Webhook delivery: Stripe's signature, order, retries, faults, pause/flush, reset."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import stripe

from fiko_billing.emulator import Emulator
from fiko_billing.emulator.webhooks import sign
from tests.emulator.conftest import SECRET, START, Catalogue, make_client
from tests.emulator.helpers import Received, Receiver, get_page, pay, post_json


def received_types(receiver: Receiver) -> list[str]:
    return [json.loads(body)["type"] for body in receiver.bodies()]


def verified(receiver: Receiver, secret: str = SECRET) -> list[stripe.Event]:
    return [
        stripe.Webhook.construct_event(r.body.decode(), r.headers["stripe-signature"], secret)
        for r in receiver.received
    ]


def test_sign_matches_stripes_scheme() -> None:
    header = sign(b'{"id": "evt_1"}', ("whsec_abc",), 1_700_000_000)
    expected = stripe.WebhookSignature._compute_signature(
        '1700000000.{"id": "evt_1"}', "whsec_abc"
    )
    assert header == f"t=1700000000,v1={expected}"


def test_every_delivery_is_signed_and_in_order(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator, receiver: Receiver
) -> None:
    session = sdk.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": catalogue.monthly.id, "quantity": 1}],
        }
    )
    pay(session.url)
    emulator.flush()
    events = verified(receiver)
    assert [e.type for e in events] == emulator.event_types()
    assert [e.id for e in events] == [
        e.id for e in reversed(sdk.v1.events.list(params={"limit": 100}).data)
    ]
    first = receiver.received[0]
    assert first.headers["content-type"] == "application/json; charset=utf-8"
    assert first.headers["user-agent"].startswith("Stripe/1.0")
    completed = events[-1]
    assert completed.type == "checkout.session.completed"
    assert completed.data.object.id == session.id
    assert completed.api_version == "2026-10-28.endive"
    assert completed.pending_webhooks == 1
    assert sdk.v1.events.retrieve(completed.id).pending_webhooks == 0
    deliveries = emulator.deliveries()
    assert {d["state"] for d in deliveries} == {"delivered"}
    assert deliveries[0] == {
        "id": "whd_1",
        "event": events[0].id,
        "type": events[0].type,
        "url": receiver.url,
        "state": "delivered",
        "attempts": 1,
        "status_codes": [200],
        "errors": [],
        "fault": None,
    }


def test_rolled_secret_signs_with_both_until_the_old_one_expires(
    sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    emulator.roll_webhook_secret("whsec_rolled")
    sdk.v1.customers.create()
    emulator.flush()
    assert receiver.received[0].headers["stripe-signature"].count("v1=") == 2
    assert len(verified(receiver, SECRET)) == len(verified(receiver, "whsec_rolled")) == 1
    emulator.expire_old_webhook_secrets()
    sdk.v1.customers.create()
    emulator.flush()
    latest = receiver.received[-1]
    assert latest.headers["stripe-signature"].count("v1=") == 1
    stripe.Webhook.construct_event(
        latest.body.decode(), latest.headers["stripe-signature"], "whsec_rolled"
    )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            latest.body.decode(), latest.headers["stripe-signature"], SECRET
        )


def test_signature_does_not_verify_with_another_secret(
    sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    sdk.v1.customers.create()
    emulator.flush()
    with pytest.raises(stripe.SignatureVerificationError):
        verified(receiver, "whsec_other")


def test_retry_after_a_500(
    sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    seen: Counter[bytes] = Counter()

    def answer(request: Received) -> int:
        seen[request.body] += 1
        return 500 if seen[request.body] == 1 else 200

    receiver.answer = answer
    sdk.v1.customers.create(params={"email": "retry@example.com"})
    emulator.flush()
    assert len(receiver.received) == 2
    assert receiver.received[0].body == receiver.received[1].body
    assert [e.type for e in verified(receiver)] == ["customer.created", "customer.created"]
    (delivery,) = emulator.deliveries()
    assert (delivery["state"], delivery["attempts"], delivery["status_codes"]) == (
        "delivered",
        2,
        [500, 200],
    )


def test_gives_up_after_max_attempts(
    sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    receiver.answer = lambda request: 503
    customer = sdk.v1.customers.create()
    emulator.flush()
    (delivery,) = emulator.deliveries()
    assert (delivery["state"], delivery["attempts"], delivery["status_codes"]) == (
        "failed",
        3,
        [503, 503, 503],
    )
    (event,) = sdk.v1.events.list(params={"delivery_success": False}).data
    assert (event.pending_webhooks, event.data.object.id) == (1, customer.id)


def test_connection_errors_are_retried_then_fail(catalogue: Catalogue) -> None:
    closed = Receiver()
    dead_url = closed.url
    closed._server.server_close()
    with Emulator(
        webhook_url=dead_url, webhook_secret=SECRET, retry_delays=(0.01,), max_attempts=2
    ) as emulator:
        make_client(emulator.url).v1.customers.create()
        emulator.flush()
        (delivery,) = emulator.deliveries()
    assert (delivery["state"], delivery["attempts"], delivery["status_codes"]) == (
        "failed",
        2,
        [None, None],
    )
    assert len(delivery["errors"]) == 2


def test_drop_fault(sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver) -> None:
    emulator.add_fault("drop", types=["customer.created"])
    sdk.v1.customers.create()
    sdk.v1.customers.create()
    product = sdk.v1.products.create(params={"name": "x"})
    emulator.flush()
    assert received_types(receiver) == ["customer.created", "product.created"]
    assert [d["state"] for d in emulator.deliveries()] == ["dropped", "delivered", "delivered"]
    assert json.loads(receiver.bodies()[1])["data"]["object"]["id"] == product.id


def test_duplicate_fault(sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver) -> None:
    emulator.add_fault("duplicate", count=1)
    sdk.v1.customers.create()
    sdk.v1.products.create(params={"name": "x"})
    emulator.flush()
    assert received_types(receiver) == ["customer.created", "customer.created", "product.created"]
    events = verified(receiver)
    assert events[0].id == events[1].id


def test_delay_fault(sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver) -> None:
    emulator.add_fault("delay", types=["customer.*"], seconds=0.5)
    sdk.v1.customers.create()
    sdk.v1.products.create(params={"name": "x"})
    emulator.flush()
    assert received_types(receiver) == ["product.created", "customer.created"]


def test_reorder_fault_over_http(
    sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    answer = post_json(
        f"{emulator.url}/_emulator/faults", {"action": "reorder", "types": ["customer.created"]}
    )
    assert answer.status == 200
    assert json.loads(answer.body)["faults"][0]["action"] == "reorder"
    sdk.v1.customers.create()
    sdk.v1.products.create(params={"name": "x"})
    sdk.v1.products.create(params={"name": "y"})
    flushed = post_json(f"{emulator.url}/_emulator/deliveries/flush", {})
    assert flushed.status == 200
    assert received_types(receiver) == ["product.created", "customer.created", "product.created"]


def test_reordered_last_delivery_is_released_by_flush(
    sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    emulator.add_fault("reorder")
    sdk.v1.customers.create()
    emulator.flush()
    assert received_types(receiver) == ["customer.created"]


@pytest.mark.parametrize(
    "fault",
    [
        {"action": "explode"},
        {"action": "delay"},
        {"action": "drop", "count": 0},
        {"action": "drop", "types": "x"},
    ],
)
def test_invalid_faults(emulator: Emulator, fault: dict[str, object]) -> None:
    answer = post_json(f"{emulator.url}/_emulator/faults", fault)
    assert answer.status == 400


def test_pause_resume_flush(
    sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    assert post_json(f"{emulator.url}/_emulator/deliveries/pause").status == 200
    sdk.v1.customers.create()
    listing = json.loads(get_page(f"{emulator.url}/_emulator/deliveries").body)
    assert listing["paused"] is True
    assert [d["state"] for d in listing["data"]] == ["pending"]
    assert post_json(f"{emulator.url}/_emulator/deliveries/flush").status == 409
    assert receiver.received == []
    assert post_json(f"{emulator.url}/_emulator/deliveries/resume").status == 200
    emulator.flush()
    assert received_types(receiver) == ["customer.created"]


def test_endpoints_created_through_the_api(
    sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    with Receiver() as other:
        endpoint = sdk.v1.webhook_endpoints.create(
            params={"url": other.url, "enabled_events": ["product.created"]}
        )
        sdk.v1.customers.create()
        sdk.v1.products.create(params={"name": "x"})
        emulator.flush()
        assert received_types(other) == ["product.created"]
        assert [e.type for e in verified(other, endpoint.secret)] == ["product.created"]
        sdk.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
        sdk.v1.products.create(params={"name": "y"})
        emulator.flush()
        assert len(other.received) == 1
    assert received_types(receiver) == ["customer.created", "product.created", "product.created"]
    product_event = sdk.v1.events.list(params={"type": "product.created", "limit": 1}).data[0]
    assert product_event.pending_webhooks == 0


def test_reset(sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver) -> None:
    sdk.v1.customers.create(options={"idempotency_key": "before-reset"})
    emulator.advance(days=3)
    emulator.flush()
    assert post_json(f"{emulator.url}/_emulator/reset").status == 200
    assert sdk.v1.customers.list().data == []
    assert sdk.v1.events.list().data == []
    assert emulator.deliveries() == []
    assert emulator.now() == START
    again = sdk.v1.customers.create(options={"idempotency_key": "before-reset"})
    assert "Idempotent-Replayed" not in again.last_response.headers


def test_an_endpoint_elsewhere_is_delivered_besides_the_forwarding(
    sdk: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    with Receiver() as other:
        sdk.v1.webhook_endpoints.create(params={"url": other.url, "enabled_events": ["*"]})
        sdk.v1.customers.create(params={"name": "a"})
        emulator.flush()
        assert received_types(receiver) == received_types(other) == ["customer.created"]
