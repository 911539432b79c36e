"""Customers and card payment methods."""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.cards import Card
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.store import Obj

ADDRESS_NONE: Obj = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


def customer(ctx: Ctx, params: dict[str, Any]) -> Obj:
    return {
        "id": ctx.new_id("cus", 14),
        "object": "customer",
        "address": params.get("address") or dict(ADDRESS_NONE),
        "balance": params.get("balance", 0),
        "business_name": None,
        "created": ctx.now(),
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description"),
        "discount": None,
        "email": params.get("email"),
        "individual_name": None,
        "invoice_prefix": ctx.store.ids.token(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": (params.get("invoice_settings") or {}).get(
                "default_payment_method"
            ),
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": params.get("metadata") or {},
        "name": params.get("name"),
        "next_invoice_sequence": 1,
        "phone": params.get("phone"),
        "preferred_locales": params.get("preferred_locales") or [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def deleted(obj: Obj) -> Obj:
    return {"id": obj["id"], "object": obj["object"], "deleted": True}


def payment_method(ctx: Ctx, card: Card, *, email: str | None, name: str | None) -> Obj:
    return {
        "id": ctx.new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": dict(ADDRESS_NONE),
            "email": email,
            "name": name,
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "display_brand": card.brand,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": card.fingerprint,
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": ctx.now(),
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }
