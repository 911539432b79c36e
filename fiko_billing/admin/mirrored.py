"""What Stripe owns (customers, subscriptions, payments, webhook events), shown read-only.

Stripe is the source of truth and webhooks keep these rows current.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from fiko_billing.admin.common import SUBSCRIBER_SEARCH, MirroredAdmin, TabularInline
from fiko_billing.admin.erasure import ErasureActionMixin
from fiko_billing.models import (
    Customer,
    Dispute,
    Payment,
    Refund,
    RejectedEvent,
    Subscription,
    WebhookEvent,
)
from fiko_billing.money import format_amount


@admin.register(Customer)
class CustomerAdmin(ErasureActionMixin, MirroredAdmin[Customer]):
    actions = ("erase_billing_data",)
    list_display = ("subscriber", "stripe_customer_id", "livemode", "deleted_at", "created")
    list_filter = ("livemode", ("deleted_at", admin.EmptyFieldListFilter))
    list_select_related = ("subscriber",)
    search_fields = ("stripe_customer_id", *SUBSCRIBER_SEARCH)
    date_hierarchy = "created"
    readonly_fields = (
        "subscriber",
        "stripe_customer_id",
        "livemode",
        "deleted_at",
        "creation_attempted_at",
        "created",
        "modified",
    )


@admin.register(Subscription)
class SubscriptionAdmin(MirroredAdmin[Subscription]):
    list_display = (
        "stripe_subscription_id",
        "subscriber",
        "item",
        "status",
        "quantity",
        "current_period_end",
        "cancel_at_period_end",
        "livemode",
    )
    list_filter = ("status", "cancel_at_period_end", "livemode", "product")
    list_select_related = ("subscriber", "product")
    search_fields = (
        "stripe_subscription_id",
        "customer__stripe_customer_id",
        *SUBSCRIBER_SEARCH,
    )
    date_hierarchy = "created"
    readonly_fields = (
        "subscriber",
        "customer",
        "stripe_subscription_id",
        "status",
        "status_changed",
        "livemode",
        "product",
        "price",
        "quantity",
        "current_period_start",
        "current_period_end",
        "trial_end",
        "cancel_at_period_end",
        "cancel_at",
        "canceled_at",
        "ended_at",
        "canceled_as_duplicate_of",
        "stripe_created",
        "stripe_state_at",
        "ordering_state",
        "created",
        "modified",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "subscriber",
                    "customer",
                    "stripe_subscription_id",
                    "status",
                    "status_changed",
                )
            },
        ),
        (_("Item"), {"fields": ("product", "price", "quantity")}),
        (_("Period"), {"fields": ("current_period_start", "current_period_end", "trial_end")}),
        (
            _("Cancellation"),
            {
                "fields": (
                    "cancel_at_period_end",
                    "cancel_at",
                    "canceled_at",
                    "ended_at",
                    "canceled_as_duplicate_of",
                )
            },
        ),
        (
            _("Synchronisation"),
            {
                "fields": (
                    "livemode",
                    "stripe_created",
                    "stripe_state_at",
                    "ordering_state",
                    "created",
                    "modified",
                )
            },
        ),
    )

    @admin.display(description=_("plan or package"))
    def item(self, obj: Subscription) -> str | None:
        return None if obj.product is None else str(obj.product)


class _ReadOnlyInline(TabularInline[Any, Any]):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RefundInline(_ReadOnlyInline):
    model = Refund
    fields = readonly_fields = (
        "stripe_refund_id",
        "amount",
        "currency",
        "status",
        "tokens",
        "created",
    )


class DisputeInline(_ReadOnlyInline):
    model = Dispute
    fields = readonly_fields = (
        "stripe_dispute_id",
        "amount",
        "currency",
        "status",
        "reason",
        "funds_withdrawn",
        "funds_reinstated",
        "tokens",
        "created",
    )


@admin.register(Payment)
class PaymentAdmin(MirroredAdmin[Payment]):
    list_display = (
        "created",
        "subscriber",
        "kind",
        "item",
        "amount_display",
        "refunded_display",
        "status",
        "tokens",
        "livemode",
    )
    list_filter = ("status", "kind", "currency", "livemode")
    list_select_related = ("subscriber", "product")
    search_fields = (
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "stripe_invoice_id",
        "stripe_charge_id",
        *SUBSCRIBER_SEARCH,
    )
    date_hierarchy = "created"
    readonly_fields = (
        "subscriber",
        "kind",
        "status",
        "product",
        "subscription",
        "quantity",
        "amount",
        "amount_discount",
        "amount_refunded",
        "currency",
        "amount_display",
        "refunded_display",
        "tokens",
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "stripe_invoice_id",
        "stripe_charge_id",
        "stripe_subscription_id",
        "period_start",
        "period_end",
        "hosted_invoice_url",
        "failure_message",
        "fulfilled_at",
        "credited_at",
        "livemode",
        "created",
        "modified",
    )
    inlines = (RefundInline, DisputeInline)
    fieldsets = (
        (None, {"fields": ("subscriber", "kind", "status", "failure_message")}),
        (
            _("Item"),
            {
                "fields": (
                    "product",
                    "subscription",
                    "quantity",
                    "period_start",
                    "period_end",
                    "tokens",
                    "fulfilled_at",
                    "credited_at",
                )
            },
        ),
        (
            _("Amount"),
            {
                "fields": (
                    "amount_display",
                    "refunded_display",
                    "amount",
                    "amount_discount",
                    "amount_refunded",
                    "currency",
                )
            },
        ),
        (
            _("Stripe"),
            {
                "fields": (
                    "stripe_checkout_session_id",
                    "stripe_payment_intent_id",
                    "stripe_invoice_id",
                    "stripe_charge_id",
                    "stripe_subscription_id",
                    "hosted_invoice_url",
                    "livemode",
                    "created",
                    "modified",
                )
            },
        ),
    )

    @admin.display(description=_("plan or package"))
    def item(self, obj: Payment) -> str | None:
        return None if obj.product is None else str(obj.product)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return format_amount(obj.amount, obj.currency)

    @admin.display(description=_("refunded"), ordering="amount_refunded")
    def refunded_display(self, obj: Payment) -> str | None:
        if not obj.amount_refunded:
            return None
        return format_amount(obj.amount_refunded, obj.currency)


@admin.register(WebhookEvent)
class WebhookEventAdmin(MirroredAdmin[WebhookEvent]):
    list_display = (
        "stripe_event_id",
        "type",
        "status",
        "attempts",
        "waiting_for",
        "stripe_created",
        "received_at",
        "processed_at",
        "livemode",
    )
    list_filter = ("status", "type", "livemode")
    search_fields = ("stripe_event_id", "type")
    date_hierarchy = "stripe_created"
    readonly_fields = (
        "stripe_event_id",
        "type",
        "api_version",
        "livemode",
        "payload",
        "pretty_payload",
        "status",
        "attempts",
        "failures",
        "waiting_for",
        "last_error",
        "stripe_created",
        "received_at",
        "processed_at",
    )
    fieldsets = (
        (
            None,
            {"fields": ("stripe_event_id", "type", "api_version", "livemode", "stripe_created")},
        ),
        (
            _("Processing"),
            {
                "fields": (
                    "status",
                    "attempts",
                    "failures",
                    "waiting_for",
                    "last_error",
                    "received_at",
                    "processed_at",
                )
            },
        ),
        (_("Payload"), {"fields": ("pretty_payload",)}),
    )

    @admin.display(description=_("payload"))
    def pretty_payload(self, obj: WebhookEvent) -> SafeString:
        text = json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="fiko-billing-payload">{}</pre>', text)


@admin.register(RejectedEvent)
class RejectedEventAdmin(MirroredAdmin[RejectedEvent]):
    """Signed deliveries that were no usable event: read, then delete when understood."""

    list_display = ("stripe_event_id", "type", "reason", "deliveries", "last_received_at")
    list_filter = ("reason",)
    search_fields = ("stripe_event_id", "type", "body_sha256")
    date_hierarchy = "received_at"
    readonly_fields = (
        "stripe_event_id",
        "type",
        "reason",
        "message",
        "deliveries",
        "received_at",
        "last_received_at",
        "body_sha256",
        "body",
    )
