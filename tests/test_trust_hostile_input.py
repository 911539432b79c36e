"""Input from the network answers a 4xx, never a 500, and never reaches the database raw.

Each case here answered 500 before (on PostgreSQL at least): digits that
``isdigit()`` accepts and ``int()`` refuses, numbers too long for a float or
for ``int()``, nesting deep enough for a ``RecursionError``, multipart bodies,
NUL in a path parameter; and signed events that could not be stored. A
genuine event whose customer text holds U+0000, which ``jsonb`` refuses, is
stored and processed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from fiko_billing.conf import billing_settings
from fiko_billing.models import RejectedEvent, Subscription, WebhookEvent
from fiko_billing.models.fields import ESCAPE, _may_need_escaping, decode_nul, encode_nul
from fiko_billing.testing import payloads
from fiko_billing.testing.webhooks import post_event, signed_headers
from fiko_billing.webhooks.signature import sign
from tests.factories import (
    PackagePriceFactory,
    PaymentFactory,
    SubscriberFactory,
    WebhookEventFactory,
)
from tests.resolvers import bearer, use_bearer_resolver
from tests.stories import Story
from tests.test_openapi import documented

pytestmark = pytest.mark.django_db

WEBHOOK = "/billing/stripe/webhook/"
JSON_POSTS = [
    "/billing/stripe/checkout-session/",
    "/billing/stripe/customer-portal/",
    "/billing/subscription/cancel/",
    "/billing/subscription/resume/",
    "/billing/subscription/change/",
    "/billing/subscription/change/preview/",
]


@pytest.fixture
def api(settings: Any, stripe_stub: Any) -> Client:
    """A Bearer-authenticated client whose exceptions fail the test instead of becoming 500s."""
    use_bearer_resolver(settings)
    return Client(raise_request_exception=True, HTTP_AUTHORIZATION=bearer(SubscriberFactory()))


# ---------------------------------------------------------------------- Stripe-Signature


@pytest.mark.parametrize(
    "timestamp",
    [
        "\xb2\xb3\xb9",  # "²³¹": isdigit() is true, int() refuses
        "1\xb2",
        "9" * 310,  # beyond a float
        "9" * 4301,  # beyond int()'s digit limit
        "١٢٣",  # Arabic-Indic digits
        "-5",
        "",
    ],
)
def test_a_timestamp_that_is_not_a_unix_time_is_400(timestamp: str) -> None:
    body = json.dumps(payloads.event("invoice.paid", {"id": "in_1", "object": "invoice"})).encode()
    header = f"t={timestamp},v1={sign(body, 'whsec_test_fiko', int(time.time()))}"
    response = Client(raise_request_exception=True).post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 400
    assert documented(response)["error"]["code"] == "invalid_signature"
    assert WebhookEvent.objects.count() == RejectedEvent.objects.count() == 0


# ---------------------------------------------------------------------- JSON bodies


@pytest.mark.parametrize("url", JSON_POSTS)
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"plan_id": ' + b"[" * 100 + b"]" * 100 + b"}",
        b'{"plan_id": NaN}',
        b'{"plan_id": Infinity}',
        b'{"plan_id": 1e400}',
        b'{"plan_id": 1' + b"0" * 5000 + b"}",
        b'{"currency": "\\ud800"}',
        b'{"return_url": "\\udfff"}',
        b"\xff\xfe{}",
    ],
    ids=lambda b: repr(b[:24]),
)
def test_hostile_json_is_a_400(api: Client, url: str, body: bytes) -> None:
    response = api.post(url, data=body, content_type="application/json")
    assert response.status_code == 400
    # Refused by the parser, not by a field that happened to see the wrong type.
    assert documented(response)["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("url", JSON_POSTS)
def test_nul_in_a_string_is_a_400_before_the_database(api: Client, url: str) -> None:
    body = {"plan_type": "token", "plan_id": 1, "currency": "us\x00", "return_url": "\x00"}
    response = api.post(url, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert documented(response)["error"]["code"] == "invalid_input"


def test_a_body_over_the_limit_is_refused_before_it_is_read(api: Client) -> None:
    response = api.post(
        "/billing/subscription/cancel/",
        data=b"{}",
        content_type="application/json",
        CONTENT_LENGTH=str(10**9),
    )
    assert response.status_code == 400
    assert documented(response)["error"]["code"] == "body_too_large"


@pytest.mark.parametrize("url", JSON_POSTS)
def test_a_body_over_djangos_limit_is_a_json_400(api: Client, settings: Any, url: str) -> None:
    """A host may set DATA_UPLOAD_MAX_MEMORY_SIZE below our 64 KiB: Django's own
    answer to a larger body would be an HTML page."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = json.dumps({"return_url": "x" * 200})
    response = api.post(url, data=body, content_type="application/json")
    assert response.status_code == 400
    assert documented(response)["error"]["code"] == "body_too_large"


@pytest.mark.parametrize(
    "session_id",
    ["%00", "cs_test%00", "%C3%A9", "x" * 300, "cs_test_1%0A", "cs_test%20", "cs_test%7B"],
)
def test_a_session_id_stripe_never_makes_is_404_and_never_reaches_the_database(
    api: Client, session_id: str
) -> None:
    response = api.get(f"/billing/stripe/checkout-session/{session_id}/")
    assert response.status_code == 404
    assert documented(response)["error"]["code"] == "checkout_session_not_found"


# ---------------------------------------------------------------------- signed events


def post_signed(body: bytes) -> Any:
    return Client(raise_request_exception=True).post(
        WEBHOOK, data=body, content_type="application/json", **signed_headers(body)
    )


def event_with(**changes: Any) -> dict[str, Any]:
    event = payloads.event("customer.updated", payloads.customer(id="cus_1"), id="evt_bad")
    event.update(changes)
    return event


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"x": value}
    return value


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


NAN_OBJECT = {"id": "x", "n": float("nan")}
DEEP = b'{"object": "event", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}"
SIGNED_BUT_BROKEN: dict[str, tuple[bytes, str]] = {
    "created 1e20": (dumps(event_with(created=1e20)), "invalid_event"),
    "created 10**20": (dumps(event_with(created=10**20)), "invalid_event"),
    "created true": (dumps(event_with(created=True)), "invalid_event"),
    "created -1": (dumps(event_with(created=-1)), "invalid_event"),
    "created string": (dumps(event_with(created="1700000000")), "invalid_event"),
    "id 300 chars": (dumps(event_with(id="evt_" + "a" * 296)), "invalid_event"),
    "id with NUL": (dumps(event_with(id="evt_\x00")), "invalid_event"),
    "id not a string": (dumps(event_with(id=12)), "invalid_event"),
    "type 200 chars": (dumps(event_with(type="a." + "b" * 198)), "invalid_event"),
    "type with NUL": (dumps(event_with(type="invoice.\x00paid")), "invalid_event"),
    "livemode string": (dumps(event_with(livemode="yes")), "invalid_event"),
    "api_version 100": (dumps(event_with(api_version="v" * 100)), "invalid_event"),
    "no data.object": (dumps(event_with(data={"object": None})), "invalid_event"),
    "NaN": (dumps(event_with(data={"object": NAN_OBJECT})), "invalid_json"),
    "Infinity": (dumps(event_with(data={"object": {"n": float("inf")}})), "invalid_json"),
    "depth 100": (dumps(event_with(data={"object": nested(100)})), "invalid_json"),
    "depth 5000": (DEEP, "invalid_json"),
    "lone surrogate": (dumps(event_with()).replace(b'"cus_1"', b'"\\ud800"'), "invalid_json"),
    "object id with NUL": (
        dumps(event_with()).replace(b'"cus_1"', b'"cus_\\u0000"'),
        "invalid_event",
    ),
    "not UTF-8": (b'{"object": "event", "id": "\xff"}', "invalid_json"),
    "not JSON": (b"{", "invalid_json"),
}


@pytest.mark.parametrize(
    ("body", "code"), list(SIGNED_BUT_BROKEN.values()), ids=list(SIGNED_BUT_BROKEN)
)
def test_a_signed_body_that_is_no_event_is_answered_200_and_recorded_not_stored(
    body: bytes, code: str
) -> None:
    response = post_signed(body)
    assert response.status_code == 200  # a non-2xx makes Stripe retry it for days
    answer = documented(response)
    assert answer["outcome"] == "rejected"
    assert answer["error"]["code"] == code
    assert WebhookEvent.objects.count() == 0
    rejected = RejectedEvent.objects.get()
    assert (rejected.reason, rejected.deliveries) == (code, 1)
    assert "\x00" not in rejected.body

    assert post_signed(body).status_code == 200  # Stripe delivering it again
    rejected.refresh_from_db()
    assert (RejectedEvent.objects.count(), rejected.deliveries) == (1, 2)


def test_a_webhook_body_over_djangos_limit_is_a_json_400_and_logged(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Django's own answer is an HTML page; a webhook client reads JSON."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    body = dumps(event_with(data={"object": {"id": "x", "padding": "p" * 3_000}}))
    response = post_signed(body)
    assert response.status_code == 400
    assert documented(response)["error"]["code"] == "body_too_large"
    assert not WebhookEvent.objects.exists()
    assert not RejectedEvent.objects.exists()
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE (2000 bytes)" in caplog.text
    assert [r.levelname for r in caplog.records if r.name == "fiko_billing.webhooks"] == [
        "WARNING"
    ]


@pytest.mark.parametrize(
    ("key", "event_live", "code"),
    [
        ("sk_live_x", False, "livemode_mismatch"),
        ("rk_live_x", False, "livemode_mismatch"),
        ("sk_test_x", True, "livemode_mismatch"),
        ("rk_test_x", True, "livemode_mismatch"),
        ("sk_live_x", True, None),
        ("sk_test_x", False, None),
    ],
)
def test_an_event_of_the_other_mode_than_the_key_is_rejected_unprocessed(
    settings: Any, key: str, event_live: bool, code: str | None
) -> None:
    """A test-mode endpoint pointed at a live site writes nothing there, and back."""
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_SECRET_KEY": key}
    story = Story("mode", start=1_760_000_000, tokens_per_period=100)
    event = story.subscription_event("created", at=1_760_000_000)
    event["livemode"] = event["data"]["object"]["livemode"] = event_live
    response = post_signed(json.dumps(event).encode())
    assert response.status_code == 200
    answer = documented(response)
    if code is None:
        assert answer["outcome"] == "processed"
        assert Subscription.objects.get().livemode is event_live
        return
    assert (answer["outcome"], answer["error"]["code"]) == ("rejected", code)
    assert (
        "STRIPE_SECRET_KEY is a " + ("test" if event_live else "live")
        in (answer["error"]["message"])
    )
    assert not Subscription.objects.exists()
    assert not WebhookEvent.objects.exists()
    assert RejectedEvent.objects.get().reason == code


@pytest.mark.parametrize(
    ("key", "live"),
    [
        ("sk_live_1", True),
        ("rk_live_1", True),
        ("sk_test_1", False),
        ("rk_test_1", False),
        ("pk_live_1", None),
        ("sk_1", None),
        ("", None),
    ],
)
def test_the_keys_mode_comes_from_its_prefix(settings: Any, key: str, live: bool | None) -> None:
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_SECRET_KEY": key}
    assert billing_settings.key_livemode is live


def test_the_rejected_record_names_what_was_readable() -> None:
    post_signed(json.dumps(event_with(created=True)).encode())
    rejected = RejectedEvent.objects.get()
    assert (rejected.stripe_event_id, rejected.type) == ("evt_bad", "customer.updated")
    assert rejected.message == "'created' must be an integer Unix time."


def test_created_true_is_no_longer_stored_as_1970() -> None:
    post_signed(json.dumps(event_with(created=True)).encode())
    assert not WebhookEvent.objects.exists()


# ---------------------------------------------------------------------- U+0000 in genuine events


def test_a_genuine_event_whose_customer_text_holds_nul_is_stored_and_processed() -> None:
    """Stripe passes customer text through as it is; jsonb refuses U+0000, we must not."""
    story = Story("nul", start=1_760_000_000, tokens_per_period=100)
    event = story.subscription_event(
        "created",
        at=1_760_000_000,
        event_id="evt_nul",
        metadata={"note": "line one\x00line two", "fiko_subscriber": str(story.subscriber.pk)},
        description="Customer typed \x00 here",
    )
    # Metadata keys are customer text too: a NUL there, and our escape in a value.
    event["data"]["object"]["metadata"]["key\x00two"] = f"{ESCAPE}0 is not a NUL"
    response = post_event(event)
    assert response.status_code == 200
    assert documented(response)["outcome"] == "processed"
    stored = WebhookEvent.objects.get(stripe_event_id="evt_nul")
    assert stored.payload == json.loads(json.dumps(event))  # exactly what Stripe sent
    assert stored.payload["data"]["object"]["metadata"]["note"] == "line one\x00line two"
    assert (
        Subscription.objects.get(stripe_subscription_id=story.subscription_id).status == "active"
    )


#: Any JSON value, its keys and strings drawn from every character UTF-8 can encode.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(codec="utf-8")),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(codec="utf-8")), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_nul_escaping_round_trips_any_json_value(value: Any) -> None:
    stored = encode_nul(value)
    assert "\x00" not in json.dumps(stored, ensure_ascii=False)
    assert decode_nul(stored) == value


@given(JSON_VALUES)
def test_the_quick_check_never_misses_a_value_that_needs_escaping(value: Any) -> None:
    # The field skips the walk when the check says no: that must never lose an escape.
    if encode_nul(value) != value:
        assert _may_need_escaping(value, None)


@pytest.mark.parametrize(
    "text",
    ["\x00", "a\x00b", ESCAPE, f"{ESCAPE}0", f"{ESCAPE}e", f"\x00{ESCAPE}\x00", "plain", ""],
)
def test_nul_safe_json_field_round_trips_through_the_database(text: str) -> None:
    payload = {"s": text, text: [text, {"k": text}], "n": 1}
    row = WebhookEventFactory(payload=payload)
    row.refresh_from_db()
    assert row.payload == payload
    assert (
        WebhookEvent.objects.filter(pk=row.pk).values_list("payload", flat=True).get() == payload
    )


# ---------------------------------------------------------------------- U+0000 anywhere


def _strings(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every string member in ``value``."""
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    return [found for key, item in items for found in _strings(item, (*path, key))]


def _with_nul(event: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    changed = json.loads(json.dumps(event))
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    text = parent[path[-1]]
    parent[path[-1]] = text[: len(text) // 2] + "\x00" + text[len(text) // 2 :]
    return changed


def _story_events(story: Story) -> dict[str, dict[str, Any]]:
    """Events of ``story``'s subscription and of a token package bought in Checkout."""
    PaymentFactory(
        subscriber=story.subscriber,
        kind="token_package",
        package=PackagePriceFactory().package,
        amount=500,
        tokens=250,
        stripe_checkout_session_id="cs_test_nul",
    )
    session = payloads.checkout_session(
        id="cs_test_nul",
        mode="payment",
        status="complete",
        payment_status="paid",
        customer_id=story.customer_id,
        amount_total=500,
        payment_intent="pi_1",
        metadata={"fiko_subscriber": str(story.subscriber.pk)},
    )
    t0 = story.t0
    return {
        "subscription created": story.subscription_event("created", at=t0),
        "invoice paid": story.invoice_event(
            "paid", "in_1", start=t0, reason="subscription_create", at=t0
        ),
        "checkout completed": payloads.event("checkout.session.completed", session, created=t0),
        "refund created": story.refund_event("evt_refund", at=t0),
        "dispute created": payloads.event(
            "charge.dispute.created",
            payloads.dispute(charge_id="ch_1", amount=500, payment_intent="pi_1"),
            created=t0,
        ),
    }


CODES_AND_IDS = ("id", "customer", "subscription", "status", "currency", "price", "charge")


@pytest.mark.parametrize(
    "name",
    [
        "subscription created",
        "invoice paid",
        "checkout completed",
        "refund created",
        "dispute created",
    ],
)
def test_nul_in_any_string_of_an_event_is_never_a_500(name: str) -> None:
    """Each string of the event in turn holds U+0000: text is processed as Stripe
    sent it, an id, a code or a URL is refused (200, recorded); nothing answers 500."""
    story = Story("nul", start=1_760_000_000, tokens_per_period=100)
    events = _story_events(story)
    event = events[name]
    outcomes: dict[str, set[str]] = {}
    if name in ("refund created", "dispute created"):
        # Of the package's payment, paid first.
        assert post_event(events["checkout completed"]).json()["outcome"] == "processed"
    with transaction.atomic():
        assert post_event(event).json()["outcome"] == "processed"  # as Stripe sent it
        transaction.set_rollback(True)
    for path in _strings(event["data"], ("data",)):
        with transaction.atomic():
            response = post_event(_with_nul(event, path), conforming=False)
            transaction.set_rollback(True)
        where = ".".join(map(str, path))
        assert response.status_code == 200, (where, response.content)
        outcome = documented(response)["outcome"]
        outcomes.setdefault(outcome, set()).add(where)
        if path[-1] in CODES_AND_IDS and "metadata" not in path:
            assert outcome == "rejected", where
    # The walk reached both kinds of member, and every member that is not an id
    # or a code (a description, an email, a metadata value) was processed.
    assert set(outcomes) == {"rejected", "processed"}, outcomes
