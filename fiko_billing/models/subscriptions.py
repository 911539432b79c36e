"""Mirror of Stripe subscriptions."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from model_utils.fields import MonitorField
from model_utils.models import TimeStampedModel

from fiko_billing.conf import subscriber_model_reference
from fiko_billing.models.catalogue import Price, Product, SoldProduct
from fiko_billing.models.customers import Customer
from fiko_billing.models.deletion import keep_unless_live


class SubscriptionStatus(models.TextChoices):
    """Stripe's full set of subscription statuses."""

    INCOMPLETE = "incomplete", _("Incomplete")
    INCOMPLETE_EXPIRED = "incomplete_expired", _("Incomplete, expired")
    TRIALING = "trialing", _("Trialing")
    ACTIVE = "active", _("Active")
    PAST_DUE = "past_due", _("Past due")
    CANCELED = "canceled", _("Canceled")
    UNPAID = "unpaid", _("Unpaid")
    PAUSED = "paused", _("Paused")


#: Statuses in which the subscriber has the plan's benefits.
ENTITLED_STATUSES = frozenset(
    {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE}
)
#: Statuses after which Stripe never changes the subscription again.
TERMINAL_STATUSES = frozenset({SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED})


class SubscriptionQuerySet(models.QuerySet["Subscription"]):
    def entitled(self) -> SubscriptionQuerySet:
        return self.filter(status__in=ENTITLED_STATUSES)


class Subscription(SoldProduct, TimeStampedModel):
    """A subscription to a plan (or to a recurring token package), as Stripe last told us."""

    # Kept when the subscriber is deleted, unless still live in Stripe (see models.deletion).
    subscriber = models.ForeignKey(
        subscriber_model_reference(),
        on_delete=keep_unless_live,
        null=True,
        blank=True,
        related_name="billing_subscriptions",
        verbose_name=_("subscriber"),
    )
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        related_name="subscriptions",
        null=True,
        blank=True,
        verbose_name=_("billing customer"),
    )
    stripe_subscription_id = models.CharField(
        _("Stripe subscription id"), max_length=255, unique=True
    )
    product = models.ForeignKey(
        Product,
        on_delete=models.PROTECT,
        related_name="subscriptions",
        null=True,
        blank=True,
        verbose_name=_("product"),
        help_text=_(
            "The plan (or recurring token package) subscribed to; empty while it is unknown."
        ),
    )
    price = models.ForeignKey(
        Price,
        on_delete=models.PROTECT,
        related_name="subscriptions",
        null=True,
        blank=True,
        verbose_name=_("price"),
        help_text=_("The price billed each period."),
    )
    quantity = models.PositiveIntegerField(
        _("quantity"), default=1, help_text=_("Units billed each period.")
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.INCOMPLETE,
        help_text=_("Stripe's status; active, trialing and past_due give the plan's benefits."),
    )
    status_changed = MonitorField(
        _("status changed"),
        monitor="status",
        help_text=_("When this row's status last changed (or the row was created)."),
    )
    current_period_start = models.DateTimeField(_("current period start"), null=True, blank=True)
    current_period_end = models.DateTimeField(
        _("current period end"),
        null=True,
        blank=True,
        help_text=_("The paid period ends (and renews) then; its granted tokens expire then."),
    )
    cancel_at_period_end = models.BooleanField(
        _("cancel at period end"),
        default=False,
        help_text=_("Cancellation requested: it stays active until the period ends."),
    )
    cancel_at = models.DateTimeField(
        _("cancel at"),
        null=True,
        blank=True,
        help_text=_("A cancellation set for this moment (in the Customer Portal or Stripe)."),
    )
    canceled_at = models.DateTimeField(
        _("canceled at"),
        null=True,
        blank=True,
        help_text=_("When the cancellation was requested."),
    )
    ended_at = models.DateTimeField(
        _("ended at"), null=True, blank=True, help_text=_("When the subscription ended.")
    )
    trial_end = models.DateTimeField(
        _("trial end"), null=True, blank=True, help_text=_("When the free trial ends.")
    )
    livemode = models.BooleanField(
        _("live mode"),
        default=False,
        help_text=_("Whether the subscription exists in Stripe's live mode."),
    )
    stripe_state_at = models.DateTimeField(
        _("Stripe state as of"),
        null=True,
        blank=True,
        help_text=_(
            "Creation time of the newest Stripe event this row reflects; older events are ignored."
        ),
    )

    canceled_as_duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("canceled as a duplicate of"),
        help_text=_("Set when a second paid subscription was canceled and refunded at once."),
    )
    stripe_created = models.DateTimeField(
        _("created in Stripe"), null=True, blank=True, help_text=_("Stripe's ``created``.")
    )
    ordering_state = models.JSONField(
        _("ordering state"),
        default=dict,
        blank=True,
        help_text=_(
            "Per group of fields: the Stripe time of the state shown and what was learnt "
            "in that second, so events in any order end in Stripe's state."
        ),
    )

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ("-created", "-pk")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SubscriptionStatus.values),
                name="fiko_subscription_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="fiko_subscription_quantity_positive"
            ),
        ]
        indexes = [
            # check_subscription_status: entitled subscriptions whose period ended.
            models.Index(fields=("status", "current_period_end"), name="fiko_sub_status_period"),
            models.Index(fields=("subscriber", "status"), name="fiko_sub_subscriber_status"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # As model_utils' StatusModel does: a partial save of the status also
        # writes the time the MonitorField set.
        update_fields = kwargs.get("update_fields")
        if update_fields and "status" in update_fields:
            kwargs["update_fields"] = {*update_fields, "status_changed"}
        super().save(*args, **kwargs)

    @property
    def is_entitled(self) -> bool:
        return self.status in ENTITLED_STATUSES
