"""Payments: one row per checkout, invoice or charge that moves money."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from model_utils.models import TimeStampedModel

from fiko_billing.conf import subscriber_model_reference
from fiko_billing.models.catalogue import Product, SoldProduct
from fiko_billing.models.subscriptions import Subscription
from fiko_billing.vocabulary import PaymentKind

__all__ = [
    "Charge",
    "Dispute",
    "InvoicePayment",
    "Payment",
    "PaymentKind",
    "PaymentStatus",
    "Refund",
]


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    REQUIRES_ACTION = "requires_action", _("Requires action")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")
    REFUNDED = "refunded", _("Refunded")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    DISPUTED = "disputed", _("Disputed")
    DISPUTE_LOST = "dispute_lost", _("Dispute lost")


class Payment(SoldProduct, TimeStampedModel):
    # Kept when the subscriber is deleted: an accounting record (see models.deletion).
    subscriber = models.ForeignKey(
        subscriber_model_reference(),
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
    product = models.ForeignKey(
        Product,
        on_delete=models.PROTECT,
        related_name="payments",
        null=True,
        blank=True,
        verbose_name=_("product"),
        help_text=_("The plan or token package paid for, if known."),
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
    amount_discount = models.PositiveBigIntegerField(
        _("discount"),
        default=0,
        help_text=_("Taken off by coupons and promotion codes, in minor units."),
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
    # The subscription an invoice belongs to, as Stripe names it: known from the
    # invoice itself, so the payment links to its subscription in any order.
    stripe_subscription_id = models.CharField(  # noqa: DJ001
        _("Stripe subscription id"),
        max_length=255,
        null=True,
        blank=True,
        db_index=True,
        help_text=_("The subscription of the invoice this payment pays."),
    )
    period_start = models.DateTimeField(
        _("period start"), null=True, blank=True, help_text=_("The billing period it pays for.")
    )
    period_end = models.DateTimeField(
        _("period end"), null=True, blank=True, help_text=_("The end of that billing period.")
    )
    credited_at = models.DateTimeField(
        _("tokens credited at"),
        null=True,
        blank=True,
        help_text=_(
            "When the tokens this payment buys were credited (or found to be none); "
            "its refunds and disputes wait for this."
        ),
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


class InvoicePayment(models.Model):
    """Stripe's record that a PaymentIntent paid (part of) an invoice.

    Webhook invoices do not name their PaymentIntent; ``invoice_payment.paid``
    does. Refunds and disputes name only the PaymentIntent and the charge, so
    this table is how they find the invoice's payment.
    """

    stripe_id = models.CharField(
        _("Stripe invoice payment id"),
        max_length=255,
        unique=True,
        help_text=_("The InvoicePayment object (inpay_...) that invoice_payment.paid named."),
    )
    stripe_invoice_id = models.CharField(
        _("Stripe invoice id"),
        max_length=255,
        db_index=True,
        help_text=_("The invoice this payment paid (part of)."),
    )
    stripe_payment_intent_id = models.CharField(  # noqa: DJ001
        _("Stripe PaymentIntent id"), max_length=255, null=True, blank=True, db_index=True
    )
    amount_paid = models.BigIntegerField(
        _("amount paid"), default=0, help_text=_("In the currency's minor unit.")
    )
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=20)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("invoice payment")
        verbose_name_plural = _("invoice payments")
        ordering = ("-created", "-pk")

    def __str__(self) -> str:
        return f"{self.stripe_invoice_id} paid by {self.stripe_payment_intent_id} ({self.status})"


class Charge(models.Model):
    """Which PaymentIntent a charge belongs to, as ``charge.*`` events tell it."""

    stripe_charge_id = models.CharField(
        _("Stripe charge id"),
        max_length=255,
        unique=True,
        help_text=_("Refunds and disputes name the charge; this row leads to its PaymentIntent."),
    )
    stripe_payment_intent_id = models.CharField(  # noqa: DJ001
        _("Stripe PaymentIntent id"), max_length=255, null=True, blank=True, db_index=True
    )
    amount = models.BigIntegerField(
        _("amount"), default=0, help_text=_("In the currency's minor unit.")
    )
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=20)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("charge")
        verbose_name_plural = _("charges")
        ordering = ("-created", "-pk")

    def __str__(self) -> str:
        return self.stripe_charge_id


class Refund(TimeStampedModel):
    """A refund of one of our payments, as Stripe last described it."""

    stripe_refund_id = models.CharField(
        _("Stripe refund id"),
        max_length=255,
        unique=True,
        help_text=_("One row per Stripe refund object; its tokens are taken back once."),
    )
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        related_name="refunds",
        verbose_name=_("payment"),
        help_text=_("The payment refunded."),
    )
    stripe_charge_id = models.CharField(
        _("Stripe charge id"),
        max_length=255,
        blank=True,
        help_text=_("The charge the refund returns money from."),
    )
    amount = models.PositiveBigIntegerField(
        _("amount"), help_text=_("Refunded, in the currency's minor unit.")
    )
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=20)
    reason = models.CharField(
        _("reason"),
        max_length=40,
        blank=True,
        help_text=_("Stripe's reason code (duplicate, fraudulent, requested_by_customer)."),
    )
    tokens = models.PositiveBigIntegerField(
        _("tokens"), default=0, help_text=_("The share of the payment's tokens it takes back.")
    )

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ("-created", "-pk")

    def __str__(self) -> str:
        return f"{self.stripe_refund_id} {self.amount} {self.currency} ({self.status})"


class Dispute(TimeStampedModel):
    """A dispute (chargeback) of one of our payments."""

    stripe_dispute_id = models.CharField(
        _("Stripe dispute id"),
        max_length=255,
        unique=True,
        help_text=_("One row per Stripe dispute (chargeback)."),
    )
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        related_name="disputes",
        verbose_name=_("payment"),
        help_text=_("The payment disputed."),
    )
    stripe_charge_id = models.CharField(
        _("Stripe charge id"),
        max_length=255,
        blank=True,
        help_text=_("The charge the customer's bank disputes."),
    )
    amount = models.PositiveBigIntegerField(
        _("amount"), help_text=_("Disputed, in the currency's minor unit.")
    )
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=30)
    reason = models.CharField(
        _("reason"),
        max_length=40,
        blank=True,
        help_text=_("The bank's reason code as Stripe gives it (fraudulent, duplicate, ...)."),
    )
    funds_withdrawn = models.BooleanField(
        _("funds withdrawn"),
        default=False,
        help_text=_("Stripe took the disputed amount from the balance."),
    )
    funds_reinstated = models.BooleanField(
        _("funds reinstated"),
        default=False,
        help_text=_("The dispute was won and the amount returned to the balance."),
    )
    status_at = models.DateTimeField(
        _("status as of"), null=True, blank=True, help_text=_("Stripe time of the status shown.")
    )
    tokens = models.PositiveBigIntegerField(
        _("tokens"), default=0, help_text=_("The share of the payment's tokens it holds.")
    )

    class Meta:
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
        ordering = ("-created", "-pk")

    def __str__(self) -> str:
        return f"{self.stripe_dispute_id} {self.amount} {self.currency} ({self.status})"
