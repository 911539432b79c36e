"""``/v1/payment_intents``: create (and confirm) with a saved card or a test token.

Declines answer 402 ``card_error`` with the payment intent in the error, as
Stripe does, after the intent and its failed charge are stored.
"""

from __future__ import annotations

import copy

from fiko_billing.emulator.cards import saved_card
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.currencies import minimum_charge, shown, too_small
from fiko_billing.emulator.engine import charging
from fiko_billing.emulator.params import (
    LIST_PARAMS,
    Bool,
    Currency,
    Hash,
    Int,
    IntOrRange,
    List,
    Metadata,
    Str,
    merge_metadata,
)
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import StripeError, invalid

from .common import created_matches, fetch, listing

routes = Routes()

#: Stripe's test payment method tokens and the card each one stands for.
TEST_TOKENS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_createDispute": "4000000000000259",
}


@routes.get("/v1/payment_intents/{id}")
def retrieve(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "payment_intent", call.arg("id"))


@routes.get("/v1/payment_intents", Hash(LIST_PARAMS, customer=Str(), created=IntOrRange()))
def list_(ctx: Ctx, call: Call) -> Obj:
    items = [
        pi
        for pi in ctx.store.all("payment_intent")
        if call.params.get("customer") in (None, pi["customer"])
        and created_matches(pi["created"], call.params.get("created"))
    ]
    return listing(ctx, call, "payment_intent", items)


CONFIRM = {"payment_method": Str(), "off_session": Bool()}


@routes.post(
    "/v1/payment_intents",
    Hash(
        CONFIRM,
        amount=Int(minimum=1, maximum=99_999_999).req(),
        currency=Currency().req(),
        customer=Str(),
        confirm=Bool(),
        description=Str(max_length=1000),
        metadata=Metadata(),
        automatic_payment_methods=Hash(enabled=Bool().req(), allow_redirects=Str()),
        payment_method_types=List(Str()),
    ),
)
def create(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    if "payment_method_types" in params:
        raise invalid(
            "The `payment_method_types` parameter is no longer supported; use "
            "`allowed_payment_method_types` or dynamic payment methods.",
            param="payment_method_types",
            code="payment_method_types_no_longer_supported",
        )
    if too_small(params["amount"], params["currency"]):
        minimum = minimum_charge(params["currency"])
        raise invalid(
            f"Amount must be at least {shown(minimum, params['currency'])}",
            param="amount",
            code="amount_too_small",
        )
    customer = None
    if "customer" in params:
        customer = fetch(ctx, "customer", params["customer"], param="customer")["id"]
    pm = _payment_method(ctx, params.get("payment_method"), customer)
    if params.get("confirm") and pm is None:
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
        )
    pi = charging.new_intent(
        ctx,
        amount=params["amount"],
        currency=params["currency"],
        customer=customer,
        description=params.get("description"),
        metadata=merge_metadata({}, params.get("metadata")),
    )
    if pm is not None:
        pi["payment_method"] = pm["id"]
        pi["status"] = "requires_confirmation"
    if params.get("confirm") and pm is not None:
        _confirm(ctx, pi, pm, off_session=params.get("off_session", False))
    return pi


@routes.post("/v1/payment_intents/{id}/confirm", Hash(CONFIRM))
def confirm(ctx: Ctx, call: Call) -> Obj:
    pi = fetch(ctx, "payment_intent", call.arg("id"))
    if pi["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise invalid(
            f"This PaymentIntent's status is {pi['status']}, so it cannot be confirmed.",
            code="payment_intent_unexpected_state",
        )
    pm = _payment_method(
        ctx, call.params.get("payment_method") or pi["payment_method"], pi["customer"]
    )
    if pm is None:
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
        )
    _confirm(ctx, pi, pm, off_session=call.params.get("off_session", False))
    return pi


def _payment_method(ctx: Ctx, reference: str | None, customer: str | None) -> Obj | None:
    if reference is None:
        return None
    if reference in TEST_TOKENS:
        card = saved_card(TEST_TOKENS[reference], 12, 2034)
        return charging.save_card(ctx, card, customer=None)
    pm = fetch(ctx, "payment_method", reference, param="payment_method")
    if pm["customer"] is not None and pm["customer"] != customer:
        raise invalid(
            f"The provided PaymentMethod {pm['id']} belongs to another customer.",
            param="payment_method",
        )
    return pm


def _confirm(ctx: Ctx, pi: Obj, pm: Obj, *, off_session: bool) -> None:
    outcome = charging.confirm(ctx, pi, pm, off_session=off_session)
    decline = outcome.decline
    if decline is None:
        return
    raise StripeError(
        402,
        decline.message,
        type="card_error",
        code=decline.code,
        decline_code=decline.decline_code,
        extra={
            "charge": outcome.charge["id"] if outcome.charge else None,
            "payment_intent": copy.deepcopy(pi),
            "payment_method": copy.deepcopy(pm),
        },
    )
