"""Subscriptions, subscription items, invoices, their lines and payments."""

from __future__ import annotations

import copy

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.shapes.catalogue import plan
from fiko_billing.emulator.store import Obj
from fiko_billing.emulator.wire import list_object


def subscription_item(
    ctx: Ctx, sub_id: str, price_obj: Obj, quantity: int, start: int, end: int
) -> Obj:
    return {
        "id": ctx.new_id("si", 14),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": ctx.now(),
        "current_period_end": end,
        "current_period_start": start,
        "discounts": [],
        "metadata": {},
        "plan": plan(price_obj),
        "price": copy.deepcopy(price_obj),
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }


def subscription(
    ctx: Ctx,
    *,
    sub_id: str,
    customer: str,
    currency: str,
    items: list[Obj],
    payment_method: str | None,
    metadata: dict[str, str],
    description: str | None = None,
) -> Obj:
    now = ctx.now()
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": now,
        "billing_cycle_anchor_config": None,
        "billing_schedules": [],
        "billing_mode": {
            "flexible": {"proration_discounts": "included"},
            "type": "flexible",
            "updated_at": now,
        },
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": now,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": list_object(items, f"/v1/subscription_items?subscription={sub_id}"),
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": dict(metadata),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": now,
        "status": "incomplete",
        "status_details": None,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def invoice_line(
    ctx: Ctx,
    *,
    invoice_id: str,
    amount: int,
    currency: str,
    description: str,
    price_obj: Obj,
    quantity: int,
    start: int,
    end: int,
    subscription: str | None,
    subscription_item: str | None,
    invoice_item: str | None = None,
    proration: bool = False,
    credited_items: Obj | None = None,
    discount_amounts: list[Obj] | None = None,
) -> Obj:
    """One line of an invoice.

    A subscription item's own line, and an invoice item created for a
    subscription item (a proration), both hang under
    ``parent.subscription_item_details``; the proration names its invoice item
    and, for a credit, the line it credits. Other invoice items hang under
    ``parent.invoice_item_details``.
    """
    details = {"credited_items": credited_items}
    if subscription_item is not None:
        parent: Obj = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": details,
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": details,
                "subscription": subscription,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    return {
        "id": ctx.new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": discount_amounts or [],
        "discountable": not proration,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": parent,
        "period": {"end": end, "start": start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": price_obj["unit_amount_decimal"],
        },
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": subscription,
        "subtotal": amount,
        "taxes": [],
    }


def invoice(
    ctx: Ctx,
    *,
    invoice_id: str,
    customer: Obj,
    currency: str,
    billing_reason: str,
    subscription: Obj | None,
    period_start: int,
    period_end: int,
) -> Obj:
    parent: Obj | None = None
    if subscription is not None:
        parent = {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription["metadata"]),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        }
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Fiko Billing Emulator",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": ctx.now(),
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": None,
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_object([], f"/v1/invoices/{invoice_id}/lines"),
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": parent,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": period_end,
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_details": None,
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def invoice_payment(ctx: Ctx, invoice_obj: Obj, pi_id: str) -> Obj:
    return {
        "id": ctx.new_id("inpay"),
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": invoice_obj["amount_due"],
        "created": ctx.now(),
        "currency": invoice_obj["currency"],
        "invoice": invoice_obj["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": pi_id, "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }


def invoice_item(
    ctx: Ctx,
    *,
    customer: str,
    subscription: Obj,
    subscription_item: str,
    price_obj: Obj,
    amount: int,
    quantity: int,
    description: str,
    start: int,
    end: int,
    proration: bool,
) -> Obj:
    return {
        "id": ctx.new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": price_obj["currency"],
        "customer": customer,
        "customer_account": None,
        "date": ctx.now(),
        "description": description,
        "discountable": not proration,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "net_amount": amount,
        "parent": {
            "subscription_details": {
                "subscription": subscription["id"],
                "subscription_item": subscription_item,
            },
            "type": "subscription_details",
        },
        "period": {"end": end, "start": start},
        "pricing": {
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": str(price_obj["unit_amount"]),
        },
        "proration": proration,
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": [],
        "test_clock": None,
    }
