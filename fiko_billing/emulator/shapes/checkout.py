"""Checkout Sessions and their line items."""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.store import Obj

SESSION_LIFETIME = 24 * 3600


def session(ctx: Ctx, params: dict[str, Any], *, currency: str, subtotal: int) -> Obj:
    session_id = ctx.new_id("cs_test", 58)
    now = ctx.now()
    customer_email = params.get("customer_email")
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": params.get("allow_promotion_codes"),
        "allowed_payment_method_types": None,
        "amount_subtotal": subtotal,
        "amount_total": subtotal,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": params.get("billing_address_collection"),
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": params.get("customer"),
        "customer_account": None,
        "customer_creation": params.get("customer_creation", "if_required")
        if params["mode"] == "payment" and not params.get("customer")
        else None,
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": params.get("expires_at") or now + SESSION_LIFETIME,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": params.get("locale"),
        "managed_payments": None,
        "metadata": params.get("metadata") or {},
        "mode": params["mode"],
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page",
        "url": f"{ctx.base_url}/checkout/{session_id}",
        "wallet_options": None,
    }


def line_item(ctx: Ctx, price_obj: Obj, product: Obj, quantity: int) -> Obj:
    subtotal = int(price_obj["unit_amount"]) * quantity
    return {
        "id": ctx.new_id("li"),
        "object": "item",
        "adjustable_quantity": None,
        "amount_discount": 0,
        "amount_subtotal": subtotal,
        "amount_tax": 0,
        "amount_total": subtotal,
        "currency": price_obj["currency"],
        "description": product.get("name") or price_obj["id"],
        "metadata": {},
        "price": price_obj["id"],
        "quantity": quantity,
    }
