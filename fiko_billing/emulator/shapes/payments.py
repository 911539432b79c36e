"""Payment intents, charges and refunds."""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.cards import Card, Decline
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.shapes.customers import ADDRESS_NONE
from fiko_billing.emulator.store import Obj


def payment_intent(
    ctx: Ctx,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    setup_future_usage: str | None = None,
) -> Obj:
    pi_id = ctx.new_id("pi")
    return {
        "id": pi_id,
        "object": "payment_intent",
        "allowed_payment_method_types": None,
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{pi_id}_secret_{ctx.store.ids.token(25)}",
        "confirmation_method": "automatic",
        "created": ctx.now(),
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": dict(metadata or {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_details": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": setup_future_usage,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def payment_error(decline: Decline, payment_method: Obj | None, charge_id: str | None) -> Obj:
    return {
        "advice_code": None,
        "charge": charge_id,
        "code": decline.code,
        "decline_code": decline.decline_code,
        "doc_url": f"https://docs.stripe.com/error-codes/{decline.code.replace('_', '-')}",
        "message": decline.message,
        "network_advice_code": None,
        "network_decline_code": None,
        "param": None,
        "payment_method": payment_method,
        "payment_method_type": "card",
        "type": "card_error",
    }


def charge(
    ctx: Ctx,
    pi: Obj,
    payment_method: Obj,
    card: Card,
    decline: Decline | None,
    *,
    authenticated: bool,
) -> Obj:
    charge_id = ctx.new_id("ch")
    ok = decline is None
    reason = None if decline is None else (decline.decline_code or decline.code)
    failure_code = None if decline is None else decline.code
    failure_message = None if decline is None else decline.message
    pm_card: dict[str, Any] = payment_method["card"]
    return {
        "id": charge_id,
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if ok else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        # Attached a moment after charge.succeeded, announced with charge.updated.
        "balance_transaction": None,
        "billing_details": dict(payment_method["billing_details"], address=dict(ADDRESS_NONE)),
        "calculated_statement_descriptor": "FIKO BILLING",
        "captured": ok,
        "created": ctx.now(),
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": failure_code,
        "failure_message": failure_message,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network" if ok else "declined_by_network",
            "reason": reason,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete."
            if ok
            else f"The bank returned the decline code `{reason}`.",
            "type": "authorized" if ok else "issuer_declined",
        },
        "paid": ok,
        "payment_intent": pi["id"],
        "payment_method": payment_method["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": pi["amount"] if ok else None,
                "brand": pm_card["brand"],
                "checks": pm_card["checks"],
                "country": "US",
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "fingerprint": pm_card["fingerprint"],
                "funding": pm_card["funding"],
                "installments": None,
                "last4": card.last4,
                "mandate": None,
                "network": pm_card["brand"],
                "network_token": {"used": False},
                "network_transaction_id": ctx.store.ids.token(15) if ok else None,
                "regulated_status": "unregulated",
                "three_d_secure": {"authentication_flow": "challenge", "result": "authenticated"}
                if authenticated
                else None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": f"{ctx.base_url}/receipts/{charge_id}",
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if ok else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(
    ctx: Ctx, charge_obj: Obj, amount: int, params: dict[str, Any], *, balance_transaction: str
) -> Obj:
    return {
        "id": ctx.new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge_obj["id"],
        "created": ctx.now(),
        "currency": charge_obj["currency"],
        "customer": charge_obj["customer"],
        "customer_account": None,
        "destination_details": {
            "card": {
                "reference": None,
                "reference_status": "pending",
                "reference_type": None,
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": params.get("metadata") or {},
        "payment_intent": charge_obj["payment_intent"],
        "payment_method": charge_obj["payment_method"],
        "reason": params.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
