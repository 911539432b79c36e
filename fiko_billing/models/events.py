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
    stripe_event_id = models.CharField(
        _("Stripe event id"),
        max_length=255,
        unique=True,
        help_text=_("Unique: a repeated delivery of an event is recognised by it."),
    )
    type = models.CharField(
        _("type"), max_length=100, help_text=_("Stripe's event type, such as invoice.paid.")
    )
    api_version = models.CharField(
        _("API version"),
        max_length=64,
        blank=True,
        help_text=_("The Stripe API version the payload is rendered in."),
    )
    livemode = models.BooleanField(
        _("live mode"), default=False, help_text=_("Whether the event comes from live mode.")
    )
    # Stripe passes customer text through as it is, U+0000 included.
    payload = NulSafeJSONField(_("payload"), help_text=_("The event as Stripe sent it."))
    status = models.CharField(
        _("status"), max_length=10, choices=EventStatus.choices, default=EventStatus.PENDING
    )
    attempts = models.PositiveIntegerField(
        _("attempts"), default=0, help_text=_("How many times processing was tried.")
    )
    failures = models.PositiveIntegerField(
        _("failures"), default=0, help_text=_("Attempts that failed; waiting is not failing.")
    )
    waiting_for = models.CharField(
        _("waiting for"),
        max_length=255,
        blank=True,
        help_text=_("What a pending event waits for (its payment, say); it runs again then."),
    )
    last_error = models.TextField(
        _("last error"), blank=True, help_text=_("The error of the last failed attempt.")
    )
    stripe_created = models.DateTimeField(
        _("created in Stripe"),
        help_text=_("The event's creation time in Stripe, to the second."),
    )
    received_at = models.DateTimeField(
        _("received"),
        auto_now_add=True,
        help_text=_("When the event was stored (delivered, or fetched by sync_stripe_events)."),
    )
    processed_at = models.DateTimeField(
        _("processed"),
        null=True,
        blank=True,
        help_text=_("When processing succeeded or found the type not handled."),
    )

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
