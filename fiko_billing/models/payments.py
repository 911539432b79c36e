"""Payments: one row per checkout, invoice or charge that moves money."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from model_utils.models import TimeStampedModel

from fiko_billing.conf import subscriber_model_label
from fiko_billing.models.catalogue import Plan, TokenPackage
from fiko_billing.models.subscriptions import Subscription


class PaymentKind(models.TextChoices):
    SUBSCRIPTION = "subscription", _("Subscription (first payment)")
    RENEWAL = "renewal", _("Subscription renewal")
    TOKEN_PACKAGE = "token_package", _("Token package")


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    REQUIRES_ACTION = "requires_action", _("Requires action")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")
    REFUNDED = "refunded", _("Refunded")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    DISPUTED = "disputed", _("Disputed")


class Payment(TimeStampedModel):
    # Kept when the subscriber is deleted: an accounting record (see models.deletion).
    subscriber = models.ForeignKey(
        subscriber_model_label(),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="billing_payments",
        verbose_name=_("subscriber"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=PaymentKind.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="payments", null=True, blank=True
    )
    package = models.ForeignKey(
        TokenPackage, on_delete=models.PROTECT, related_name="payments", null=True, blank=True
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.SET_NULL, related_name="payments", null=True, blank=True
    )
    quantity = models.PositiveIntegerField(default=1)
    amount = models.PositiveBigIntegerField(_("amount"), help_text=_("In minor units."))
    amount_refunded = models.PositiveBigIntegerField(_("amount refunded"), default=0)
    currency = models.CharField(_("currency"), max_length=3)
    tokens = models.PositiveBigIntegerField(
        _("tokens"), default=0, help_text=_("Tokens this payment grants.")
    )
    stripe_checkout_session_id = models.CharField(
        max_length=255, unique=True, null=True, blank=True
    )
    stripe_payment_intent_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_invoice_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_charge_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    hosted_invoice_url = models.URLField(max_length=2000, blank=True)
    failure_message = models.TextField(blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    livemode = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ("-created", "-pk")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=PaymentKind.values), name="fiko_payment_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="fiko_payment_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=F("amount")),
                name="fiko_payment_refund_lte_amount",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="fiko_payment_quantity_positive"
            ),
        ]
        indexes = [
            models.Index(fields=("subscriber", "-created"), name="fiko_payment_subscriber"),
            models.Index(fields=("status", "created"), name="fiko_payment_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency} ({self.status})"
