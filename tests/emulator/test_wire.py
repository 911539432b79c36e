"""The wire protocol: keys, parameters, errors, idempotency, pagination, headers."""

from __future__ import annotations

import pytest
import stripe

from fiko_billing.emulator import Emulator
from fiko_billing.emulator.wire import StripeError, decode_form
from tests.emulator.conftest import make_client
from tests.emulator.helpers import raw_api


def test_decode_form_builds_nested_hashes_and_lists() -> None:
    body = (
        "mode=subscription&line_items[0][price]=price_a&line_items[0][quantity]=2"
        "&line_items[1][price]=price_b&metadata[order]=42&metadata[empty]="
        "&expand[]=customer&expand[]=line_items"
    )
    assert decode_form(body) == {
        "mode": "subscription",
        "line_items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}],
        "metadata": {"order": "42", "empty": ""},
        "expand": ["customer", "line_items"],
    }


def test_decode_form_keeps_sparse_indexes_as_a_hash() -> None:
    # A gap is not a list: the endpoint's declaration then rejects it.
    assert decode_form("items[1][price]=p") == {"items": {"1": {"price": "p"}}}


def test_decode_form_rejects_a_key_that_is_both_value_and_hash() -> None:
    with pytest.raises(StripeError) as caught:
        decode_form("metadata=x&metadata[a]=b")
    assert caught.value.status == 400
    assert caught.value.param == "metadata[a]"


def test_missing_key_is_401_with_stripes_error_json(emulator: Emulator) -> None:
    raw = raw_api(emulator.url, "GET", "/v1/customers", key=None)
    assert raw.status == 401
    error = raw.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("You did not provide an API key.")
    assert raw.headers["Request-Id"].startswith("req_")


@pytest.mark.parametrize(
    "key",
    [
        "sk_test_abc123",
        "sk_live_abc123",
        "rk_test_abc",
        "rk_live_x",
        "pk_test_abc",
        "sk_test_",
        "whatever",
        "sk_test_a b",
    ],
)
def test_a_key_it_was_not_started_with_is_401_whatever_its_prefix(
    emulator: Emulator, key: str
) -> None:
    raw = raw_api(emulator.url, "GET", "/v1/customers", key=key)
    assert raw.status == 401
    error = raw.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("Invalid API Key provided: ")
    secret = key.split("_test_")[-1].split("_live_")[-1]
    assert not secret or secret not in error["message"]


@pytest.mark.parametrize("key", ["sk_test_emulator", "rk_test_emulator"])
def test_the_default_keys_are_accepted(emulator: Emulator, key: str) -> None:
    raw = raw_api(emulator.url, "GET", "/v1/customers", key=key)
    assert raw.status == 200
    assert raw.json()["object"] == "list"


def test_only_the_keys_it_was_started_with() -> None:
    with Emulator(api_keys=["sk_test_host_project"]) as emulator:
        mine = raw_api(emulator.url, "GET", "/v1/customers", key="sk_test_host_project")
        assert mine.status == 200
        default = raw_api(emulator.url, "GET", "/v1/customers", key="sk_test_emulator")
        assert default.status == 401


@pytest.mark.parametrize("keys", [["sk_live_abc"], ["pk_test_abc"], [], ["sk_test_a b"]])
def test_it_starts_only_with_test_secret_keys(keys: list[str]) -> None:
    with pytest.raises(ValueError, match="key"):
        Emulator(api_keys=keys)


def test_sdk_raises_authentication_error(emulator: Emulator) -> None:
    sdk = stripe.StripeClient(
        "pk_test_wrong", base_addresses={"api": emulator.url}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError) as caught:
        sdk.v1.customers.list()
    assert caught.value.http_status == 401


def test_unknown_parameter_is_parameter_unknown(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.customers.create(params={"emial": "a@example.com"})
    error = caught.value
    assert error.http_status == 400
    assert error.code == "parameter_unknown"
    assert error.param == "emial"
    assert error.user_message == "Received unknown parameter: emial"


def test_nested_unknown_parameter_names_its_path(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [{"price": "price_x", "quantity": 1, "tax_rates": ["t"]}],
            }
        )
    assert caught.value.code == "parameter_unknown"
    assert caught.value.param == "line_items[0][tax_rates]"


def test_missing_required_parameter(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.products.create(params={"description": "no name"})
    assert caught.value.code == "parameter_missing"
    assert caught.value.param == "name"
    assert caught.value.user_message == "Missing required param: name."


def test_invalid_integer(emulator: Emulator) -> None:
    raw = raw_api(emulator.url, "GET", "/v1/customers?limit=ten")
    assert raw.status == 400
    assert raw.json()["error"]["code"] == "parameter_invalid_integer"
    assert raw.json()["error"]["param"] == "limit"


def test_unknown_object_is_404_resource_missing(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.customers.retrieve("cus_missing")
    error = caught.value
    assert error.http_status == 404
    assert error.code == "resource_missing"
    assert error.param == "id"
    assert error.user_message == "No such customer: 'cus_missing'"


def test_error_json_has_stripes_fields(emulator: Emulator) -> None:
    raw = raw_api(emulator.url, "GET", "/v1/customers/cus_missing")
    error = raw.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "resource_missing"
    assert error["param"] == "id"
    assert error["doc_url"] == "https://docs.stripe.com/error-codes/resource-missing"
    assert error["message"] == "No such customer: 'cus_missing'"


def test_unrecognized_url(emulator: Emulator) -> None:
    raw = raw_api(emulator.url, "GET", "/v1/nothing_here")
    assert raw.status == 404
    assert raw.json()["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/nothing_here)."
    )


def test_headers_request_id_and_stripe_version(emulator: Emulator) -> None:
    first = raw_api(
        emulator.url, "GET", "/v1/customers", headers={"Stripe-Version": "2026-10-28.endive"}
    )
    second = raw_api(emulator.url, "GET", "/v1/customers")
    assert first.headers["Stripe-Version"] == "2026-10-28.endive"
    assert second.headers["Stripe-Version"] == "2026-10-28.endive"
    assert first.headers["Request-Id"].startswith("req_")
    assert len(first.headers["Request-Id"]) == len("req_") + 14
    assert first.headers["Request-Id"] != second.headers["Request-Id"]
    assert first.headers["Content-Type"] == "application/json"


def test_idempotent_replay_is_byte_for_byte(emulator: Emulator) -> None:
    headers = {"Idempotency-Key": "create-customer-1"}
    first = raw_api(emulator.url, "POST", "/v1/customers", "email=a%40example.com", headers)
    replay = raw_api(emulator.url, "POST", "/v1/customers", "email=a%40example.com", headers)
    assert first.status == replay.status == 200
    assert replay.body == first.body
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert replay.headers["Idempotency-Key"] == "create-customer-1"
    assert len(emulator.objects("customer")) == 1


def test_idempotent_replay_through_the_sdk(sdk: stripe.StripeClient, emulator: Emulator) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "sdk-key"}
    first = sdk.v1.customers.create(params={"name": "Ada"}, options=options)
    again = sdk.v1.customers.create(params={"name": "Ada"}, options=options)
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert [c["id"] for c in emulator.objects("customer")] == [first.id]
    assert emulator.event_types() == ["customer.created"]


def test_idempotency_key_with_other_parameters(sdk: stripe.StripeClient) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "same-key"}
    sdk.v1.customers.create(params={"name": "Ada"}, options=options)
    with pytest.raises(stripe.IdempotencyError) as caught:
        sdk.v1.customers.create(params={"name": "Grace"}, options=options)
    assert caught.value.http_status == 400
    assert caught.value.user_message == (
        "Keys for idempotent requests can only be used with the same parameters they were "
        "first used with. Try using a key other than 'same-key' if you meant to execute a "
        "different request."
    )


def test_idempotency_key_on_another_endpoint(sdk: stripe.StripeClient) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "shared"}
    sdk.v1.customers.create(params={"name": "Ada"}, options=options)
    with pytest.raises(stripe.IdempotencyError) as caught:
        sdk.v1.products.create(params={"name": "Ada"}, options=options)
    assert "('POST /v1/customers' vs 'POST /v1/products')" in (caught.value.user_message or "")


def test_rejected_parameters_do_not_use_up_the_key(sdk: stripe.StripeClient) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "fix-and-retry"}
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.products.create(params={"nmae": "Typo"}, options=options)
    product = sdk.v1.products.create(params={"name": "Fixed"}, options=options)
    assert product.name == "Fixed"


def test_card_errors_are_stored_under_the_key_like_successes(emulator: Emulator) -> None:
    headers = {"Idempotency-Key": "refund-1"}
    first = raw_api(emulator.url, "POST", "/v1/refunds", "payment_intent=pi_nope", headers)
    again = raw_api(emulator.url, "POST", "/v1/refunds", "payment_intent=pi_nope", headers)
    assert first.status == again.status == 400
    assert again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"


def _customers(sdk: stripe.StripeClient, count: int) -> list[str]:
    return [sdk.v1.customers.create(params={"name": f"c{i}"}).id for i in range(count)]


def test_list_pagination(sdk: stripe.StripeClient) -> None:
    created = _customers(sdk, 5)
    newest_first = list(reversed(created))
    first = sdk.v1.customers.list(params={"limit": 2})
    assert [c.id for c in first.data] == newest_first[:2]
    assert first.has_more is True
    assert first.url == "/v1/customers"
    assert first.object == "list"
    second = sdk.v1.customers.list(params={"limit": 2, "starting_after": first.data[-1].id})
    assert [c.id for c in second.data] == newest_first[2:4]
    third = sdk.v1.customers.list(params={"limit": 2, "starting_after": second.data[-1].id})
    assert [c.id for c in third.data] == newest_first[4:]
    assert third.has_more is False
    before = sdk.v1.customers.list(params={"limit": 2, "ending_before": newest_first[4]})
    assert [c.id for c in before.data] == newest_first[2:4]
    assert before.has_more is True
    assert [c.id for c in sdk.v1.customers.list().data] == newest_first


def test_auto_paging_walks_every_page(sdk: stripe.StripeClient) -> None:
    created = _customers(sdk, 7)
    walked = [c.id for c in sdk.v1.customers.list(params={"limit": 3}).auto_paging_iter()]
    assert walked == list(reversed(created))


def test_default_page_size_is_ten(sdk: stripe.StripeClient) -> None:
    _customers(sdk, 12)
    page = sdk.v1.customers.list()
    assert len(page.data) == 10
    assert page.has_more is True


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_bounds(emulator: Emulator, limit: int) -> None:
    raw = raw_api(emulator.url, "GET", f"/v1/customers?limit={limit}")
    assert raw.status == 400
    assert raw.json()["error"]["param"] == "limit"


def test_unknown_cursor(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.customers.list(params={"starting_after": "cus_gone"})
    assert caught.value.code == "resource_missing"
    assert caught.value.param == "starting_after"


def test_seeded_ids_repeat() -> None:
    ids = []
    for _ in range(2):
        with Emulator(seed=99) as emulator:
            ids.append(make_client(emulator.url).v1.customers.create().id)
    assert ids[0] == ids[1]
    assert ids[0].startswith("cus_")
    assert len(ids[0]) == len("cus_") + 14
