"""Signed webhook deliveries that are not usable Stripe events, kept for a person to look at."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class RejectedEvent(models.Model):
    """A body Stripe signed but that cannot be stored as an event.

    Stripe retries every delivery not answered with a 2xx for days; a body
    that will never become valid is answered 200 with the outcome
    ``rejected`` and recorded here once (repeats count ``deliveries``).
    Unsigned bodies are never recorded: they answer 400.
    """

    body_sha256 = models.CharField(_("SHA-256 of the body"), max_length=64, unique=True)
    reason = models.CharField(_("reason"), max_length=32)
    message = models.CharField(_("message"), max_length=500)
    stripe_event_id = models.CharField(
        _("Stripe event id"), max_length=255, blank=True, help_text=_("As far as it is readable.")
    )
    type = models.CharField(_("type"), max_length=100, blank=True)
    body = models.TextField(
        _("body"), help_text=_("The raw body as text (U+0000 and undecodable bytes escaped).")
    )
    deliveries = models.PositiveIntegerField(_("deliveries"), default=1)
    received_at = models.DateTimeField(_("first received"), auto_now_add=True)
    last_received_at = models.DateTimeField(_("last received"), auto_now=True)

    class Meta:
        verbose_name = _("rejected webhook delivery")
        verbose_name_plural = _("rejected webhook deliveries")
        ordering = ("-last_received_at", "-pk")

    def __str__(self) -> str:
        return f"{self.stripe_event_id or self.body_sha256[:12]} ({self.reason})"
