"""Charges (read only), refunds, balance transactions (read only), payment methods."""

from __future__ import annotations

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import refunding
from fiko_billing.emulator.formatting import money
from fiko_billing.emulator.params import (
    LIST_PARAMS,
    Enum,
    Hash,
    Int,
    IntOrRange,
    Metadata,
    Str,
    merge_metadata,
)
from fiko_billing.emulator.routing import Call, Routes
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import invalid

from .common import created_matches, fetch, listing

routes = Routes()


@routes.get("/v1/charges/{id}")
def retrieve_charge(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "charge", call.arg("id"))


@routes.get(
    "/v1/charges",
    Hash(LIST_PARAMS, customer=Str(), payment_intent=Str(), created=IntOrRange()),
)
def list_charges(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    items = [
        ch
        for ch in ctx.store.all("charge")
        if params.get("customer") in (None, ch["customer"])
        and params.get("payment_intent") in (None, ch["payment_intent"])
        and created_matches(ch["created"], params.get("created"))
    ]
    return listing(ctx, call, "charge", items)


@routes.post(
    "/v1/refunds",
    Hash(
        amount=Int(minimum=1),
        charge=Str(),
        payment_intent=Str(),
        metadata=Metadata(),
        reason=Enum("duplicate", "fraudulent", "requested_by_customer"),
    ),
)
def create_refund(ctx: Ctx, call: Call) -> Obj:
    params = dict(call.params)
    charge = _refundable_charge(ctx, params)
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid(
            f"Charge {charge['id']} has already been refunded.",
            code="charge_already_refunded",
        )
    amount = params.get("amount", remaining)
    if amount > remaining:
        raise invalid(
            f"Refund amount ({money(amount, charge['currency'])}) is greater than unrefunded "
            f"amount on charge ({money(remaining, charge['currency'])})",
            param="amount",
        )
    params["metadata"] = merge_metadata({}, params.get("metadata"))
    return refunding.refund(ctx, charge, amount, params)


def _refundable_charge(ctx: Ctx, params: dict[str, object]) -> Obj:
    if "charge" in params and "payment_intent" in params:
        raise invalid(
            "You may only specify one of these parameters: charge, payment_intent.",
            param="payment_intent",
        )
    if "payment_intent" in params:
        pi = fetch(ctx, "payment_intent", str(params["payment_intent"]), param="payment_intent")
        if pi["status"] != "succeeded" or pi["latest_charge"] is None:
            raise invalid(
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        return _not_disputed(
            ctx, fetch(ctx, "charge", pi["latest_charge"], param="payment_intent")
        )
    if "charge" in params:
        charge = fetch(ctx, "charge", str(params["charge"]), param="charge")
        if charge["status"] != "succeeded":
            raise invalid(f"Charge {charge['id']} has not succeeded.", param="charge")
        return _not_disputed(ctx, charge)
    raise invalid(
        "One of the following params should be provided for this request: payment_intent or "
        "charge.",
        code="parameter_missing",
    )


def _not_disputed(ctx: Ctx, charge: Obj) -> Obj:
    """A charged-back charge cannot be refunded: the dispute already took the money."""
    for dispute in ctx.store.iter("dispute"):
        if dispute["charge"] == charge["id"] and not dispute["is_charge_refundable"]:
            raise invalid(
                f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                code="charge_disputed",
            )
    return charge


@routes.get("/v1/refunds/{id}")
def retrieve_refund(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "refund", call.arg("id"))


@routes.get(
    "/v1/refunds",
    Hash(LIST_PARAMS, charge=Str(), payment_intent=Str(), created=IntOrRange()),
)
def list_refunds(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    items = [
        r
        for r in ctx.store.all("refund")
        if params.get("charge") in (None, r["charge"])
        and params.get("payment_intent") in (None, r["payment_intent"])
        and created_matches(r["created"], params.get("created"))
    ]
    return listing(ctx, call, "refund", items)


@routes.get("/v1/balance_transactions/{id}")
def retrieve_balance_transaction(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "balance_transaction", call.arg("id"))


@routes.get(
    "/v1/balance_transactions",
    Hash(LIST_PARAMS, source=Str(), type=Str(), created=IntOrRange()),
)
def list_balance_transactions(ctx: Ctx, call: Call) -> Obj:
    params = call.params
    items = [
        t
        for t in ctx.store.all("balance_transaction")
        if params.get("source") in (None, t["source"])
        and params.get("type") in (None, t["type"])
        and created_matches(t["created"], params.get("created"))
    ]
    return listing(ctx, call, "balance transaction", items)


@routes.get("/v1/payment_methods/{id}")
def retrieve_payment_method(ctx: Ctx, call: Call) -> Obj:
    return fetch(ctx, "payment_method", call.arg("id"))


@routes.get("/v1/payment_methods", Hash(LIST_PARAMS, customer=Str(), type=Enum("card")))
def list_payment_methods(ctx: Ctx, call: Call) -> Obj:
    items = [
        pm
        for pm in ctx.store.all("payment_method")
        if call.params.get("customer") in (None, pm["customer"])
    ]
    return listing(ctx, call, "payment_method", items)
