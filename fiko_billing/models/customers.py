"""The link between a subscriber and its Stripe customer."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from model_utils.models import TimeStampedModel

from fiko_billing.conf import subscriber_model_reference


class Customer(TimeStampedModel):
    """One per subscriber; created on the first checkout.

    ``stripe_customer_id`` is cleared (not the row) when Stripe deletes the
    customer, so payment history stays attached to the subscriber.
    """

    # Kept when the subscriber is deleted (see models.deletion).
    subscriber = models.OneToOneField(
        subscriber_model_reference(),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="billing_customer",
        verbose_name=_("subscriber"),
    )
    stripe_customer_id = models.CharField(
        _("Stripe customer id"),
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text=_(
            "Cleared when the customer is deleted in Stripe; the next checkout creates a new one."
        ),
    )
    livemode = models.BooleanField(
        _("live mode"),
        default=False,
        help_text=_("Whether the customer exists in Stripe's live mode (not test mode)."),
    )
    deleted_at = models.DateTimeField(
        _("deleted in Stripe at"),
        null=True,
        blank=True,
        help_text=_("When Stripe reported the customer deleted."),
    )
    creation_attempted_at = models.DateTimeField(
        _("Stripe customer creation attempted at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Start of a creation whose outcome Stripe never told us (a timeout or a 5xx); "
            "the next attempt first looks for the customer it may have created."
        ),
    )

    class Meta:
        verbose_name = _("billing customer")
        verbose_name_plural = _("billing customers")

    def __str__(self) -> str:
        return self.stripe_customer_id or f"customer of {self.subscriber}"
