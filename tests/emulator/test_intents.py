"""Payment intents through the API: test tokens, 402 card errors, 3D Secure."""

from __future__ import annotations

import pytest
import stripe

from fiko_billing.emulator import Emulator
from fiko_billing.emulator.idempotency import IdempotencyCache
from fiko_billing.emulator.wire import StripeError
from tests.emulator.helpers import raw_api


def test_confirmed_with_a_test_token(sdk: stripe.StripeClient, emulator: Emulator) -> None:
    pi = sdk.v1.payment_intents.create(
        params={
            "amount": 1234,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"order": "9"},
        }
    )
    assert (pi.status, pi.amount_received, pi.currency) == ("succeeded", 1234, "eur")
    assert pi.metadata.to_dict() == {"order": "9"}
    charge = sdk.v1.charges.retrieve(pi.latest_charge)
    assert (charge.amount, charge.status) == (1234, "succeeded")
    assert emulator.event_types() == [
        "payment_intent.created",
        "payment_intent.succeeded",
        "charge.succeeded",
        "charge.updated",
    ]


def test_decline_is_a_402_card_error(sdk: stripe.StripeClient, emulator: Emulator) -> None:
    with pytest.raises(stripe.CardError) as caught:
        sdk.v1.payment_intents.create(
            params={
                "amount": 500,
                "currency": "usd",
                "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
                "confirm": True,
            }
        )
    error = caught.value
    assert (error.http_status, error.code) == (402, "card_declined")
    assert error.user_message == "Your card has insufficient funds."
    assert error.error is not None
    assert error.error.decline_code == "insufficient_funds"
    assert error.error.type == "card_error"
    pi_id = error.error.payment_intent.id
    stored = sdk.v1.payment_intents.retrieve(pi_id)
    assert stored.status == "requires_payment_method"
    assert stored.last_payment_error.decline_code == "insufficient_funds"
    assert error.error.charge == stored.latest_charge
    assert emulator.event_types() == [
        "payment_intent.created",
        "payment_intent.payment_failed",
        "charge.failed",
    ]


def test_0341_fails_off_session_only(sdk: stripe.StripeClient) -> None:
    on_session = sdk.v1.payment_intents.create(
        params={
            "amount": 500,
            "currency": "usd",
            "payment_method": "pm_card_chargeCustomerFail",
            "confirm": True,
        }
    )
    assert on_session.status == "succeeded"
    with pytest.raises(stripe.CardError) as caught:
        sdk.v1.payment_intents.create(
            params={
                "amount": 500,
                "currency": "usd",
                "payment_method": "pm_card_chargeCustomerFail",
                "confirm": True,
                "off_session": True,
            }
        )
    assert caught.value.user_message == "Your card was declined."


def test_3d_secure_card_requires_action_on_session(
    sdk: stripe.StripeClient, emulator: Emulator
) -> None:
    pi = sdk.v1.payment_intents.create(
        params={
            "amount": 500,
            "currency": "usd",
            "payment_method": "pm_card_authenticationRequiredOnSetup",
            "confirm": True,
        }
    )
    assert pi.status == "requires_action"
    assert pi.next_action.type == "use_stripe_sdk"
    assert emulator.event_types()[-1] == "payment_intent.requires_action"


def test_create_then_confirm(sdk: stripe.StripeClient) -> None:
    pi = sdk.v1.payment_intents.create(params={"amount": 700, "currency": "usd"})
    assert pi.status == "requires_payment_method"
    confirmed = sdk.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as again:
        sdk.v1.payment_intents.confirm(pi.id)
    assert again.value.code == "payment_intent_unexpected_state"


def test_payment_method_types_is_no_longer_supported(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.payment_intents.create(
            params={"amount": 700, "currency": "usd", "payment_method_types": ["card"]}
        )
    assert (caught.value.code, caught.value.param) == (
        "payment_method_types_no_longer_supported",
        "payment_method_types",
    )


def test_card_error_is_replayed_under_its_idempotency_key(emulator: Emulator) -> None:
    body = "amount=500&currency=usd&payment_method=pm_card_chargeDeclined&confirm=true"
    headers = {"Idempotency-Key": "charge-once"}
    first = raw_api(emulator.url, "POST", "/v1/payment_intents", body, headers)
    again = raw_api(emulator.url, "POST", "/v1/payment_intents", body, headers)
    assert first.status == again.status == 402
    assert again.body == first.body
    assert first.json()["error"]["decline_code"] == "generic_decline"
    assert len(emulator.objects("payment_intent")) == 1


def test_key_in_use_is_a_409() -> None:
    cache = IdempotencyCache()
    assert cache.begin("k", "POST /v1/customers", {"a": "1"}) is None
    with pytest.raises(StripeError) as caught:
        cache.begin("k", "POST /v1/customers", {"a": "1"})
    assert (caught.value.status, caught.value.code) == (409, "idempotency_key_in_use")
    cache.finish("k", "POST /v1/customers", {"a": "1"}, 200, b"{}", keep=True)
    stored = cache.begin("k", "POST /v1/customers", {"a": "1"})
    assert stored is not None
    assert (stored.status, stored.body) == (200, b"{}")
