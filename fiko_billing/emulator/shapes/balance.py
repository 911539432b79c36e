"""Balance transactions and disputes: what moves money in and out of the account."""

from __future__ import annotations

from fiko_billing.emulator.clock import DAY
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.store import Obj

#: What Stripe charges for a dispute, in the charge's minor unit (15.00 USD).
DISPUTE_FEE = 1500

EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)

#: Visa's reason code for each dispute reason the emulator uses.
NETWORK_REASON_CODES = {
    "fraudulent": "10.4",
    "product_not_received": "13.1",
    "duplicate": "12.6.1",
    "credit_not_processed": "13.6",
    "subscription_canceled": "13.2",
    "product_unacceptable": "13.3",
    "unrecognized": "10.4",
    "general": "13.1",
}


def processing_fee(amount: int) -> int:
    """Stripe's standard card fee: 2.9% + 30 (minor units), rounded half up."""
    return int(amount * 0.029 + 0.5) + 30 if amount > 0 else 0


def balance_transaction(
    ctx: Ctx,
    *,
    amount: int,
    currency: str,
    kind: str,
    category: str,
    source: str,
    description: str | None,
    fee: int = 0,
    fee_description: str = "Stripe processing fees",
) -> Obj:
    now = ctx.now()
    details = []
    if fee:
        details.append(
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": fee_description,
                "type": "stripe_fee",
            }
        )
    return {
        "id": ctx.new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": now + 2 * DAY,
        "balance_type": "payments",
        "created": now,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": details,
        "net": amount - fee,
        "reporting_category": category,
        "source": source,
        "status": "pending",
        "type": kind,
    }


def dispute(ctx: Ctx, charge: Obj, *, amount: int, reason: str) -> Obj:
    now = ctx.now()
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    brand = card.get("brand") or "visa"
    code = NETWORK_REASON_CODES.get(reason, "13.1")
    due = now + 7 * DAY
    return {
        "id": ctx.new_id("du"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {
            **dict.fromkeys(EVIDENCE_FIELDS),
            "appeal": None,
            "enhanced_evidence": {},
        },
        "evidence_details": {
            "due_by": due - due % DAY + DAY - 1,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "intended_submission_method": None,
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "network_reason_code": code,
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": brand,
                "case_type": "chargeback",
                "network": brand,
                "network_reason_code": code,
            },
            "type": "card",
        },
        "reason": reason,
        "status": "needs_response",
    }
