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
        Plan,
        on_delete=models.PROTECT,
        related_name="payments",
        null=True,
        blank=True,
        verbose_name=_("plan"),
        help_text=_("The plan paid for, if any."),
    )
    package = models.ForeignKey(
        TokenPackage,
        on_delete=models.PROTECT,
        related_name="payments",
        null=True,
        blank=True,
        verbose_name=_("token package"),
        help_text=_("The token package paid for, if any."),
    )
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.SET_NULL,
        related_name="payments",
        null=True,
        blank=True,
        verbose_name=_("subscription"),
        help_text=_("The subscription a first payment or renewal belongs to."),
    )
    quantity = models.PositiveIntegerField(
        _("quantity"), default=1, help_text=_("Packages bought in this payment.")
    )
    amount = models.PositiveBigIntegerField(
        _("amount"), help_text=_("What was charged, in the currency's minor unit.")
    )
    amount_refunded = models.PositiveBigIntegerField(
        _("amount refunded"), default=0, help_text=_("Refunded so far, in minor units.")
    )
    currency = models.CharField(_("currency"), max_length=3)
    tokens = models.PositiveBigIntegerField(
        _("tokens"), default=0, help_text=_("Tokens this payment grants.")
    )
    stripe_checkout_session_id = models.CharField(
        _("Stripe Checkout Session id"),
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The Checkout Session that started this payment."),
    )
    stripe_payment_intent_id = models.CharField(
        _("Stripe PaymentIntent id"), max_length=255, unique=True, null=True, blank=True
    )
    stripe_invoice_id = models.CharField(
        _("Stripe invoice id"),
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The invoice of a subscription payment."),
    )
    stripe_charge_id = models.CharField(
        _("Stripe charge id"),
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text=_("Refunds and disputes are matched to the payment by it."),
    )
    hosted_invoice_url = models.URLField(
        _("invoice page"),
        max_length=2000,
        blank=True,
        help_text=_("Stripe's page of the invoice, for the customer."),
    )
    failure_message = models.TextField(
        _("failure message"),
        blank=True,
        help_text=_("Why the payment failed, as Stripe tells the customer."),
    )
    fulfilled_at = models.DateTimeField(
        _("fulfilled at"),
        null=True,
        blank=True,
        help_text=_("When its tokens or subscription were granted; set once."),
    )
    livemode = models.BooleanField(
        _("live mode"), default=False, help_text=_("Whether the payment was made in live mode.")
    )

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
