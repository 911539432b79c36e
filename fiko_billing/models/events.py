"""Stored Stripe webhook events: the intake log and the unit of idempotency."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fiko_billing.models.fields import NulSafeJSONField


class EventStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Ignored (type not handled)")
    FAILED = "failed", _("Failed")
    DEAD = "dead", _("Set aside (failed too often, or waited too long)")


class WebhookEvent(models.Model):
    stripe_event_id = models.CharField(_("Stripe event id"), max_length=255, unique=True)
    type = models.CharField(_("type"), max_length=100)
    api_version = models.CharField(_("API version"), max_length=64, blank=True)
    livemode = models.BooleanField(default=False)
    # Stripe passes customer text through as it is, U+0000 included.
    payload = NulSafeJSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=10, choices=EventStatus.choices, default=EventStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    failures = models.PositiveIntegerField(
        _("failures"), default=0, help_text=_("Attempts that failed; waiting is not failing.")
    )
    waiting_for = models.CharField(
        _("waiting for"),
        max_length=255,
        blank=True,
        help_text=_("What a pending event waits for (its payment, say); it runs again then."),
    )
    last_error = models.TextField(_("last error"), blank=True)
    stripe_created = models.DateTimeField(_("created in Stripe"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ("-stripe_created", "-pk")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=EventStatus.values), name="fiko_event_status_valid"
            ),
        ]
        indexes = [
            # process_webhook_events: pending or failed events, oldest first.
            models.Index(fields=("status", "stripe_created"), name="fiko_event_status_created"),
            models.Index(fields=("type", "-stripe_created"), name="fiko_event_type"),
            models.Index(
                fields=("waiting_for",), condition=~Q(waiting_for=""), name="fiko_event_waiting"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_event_id} {self.type} ({self.status})"
