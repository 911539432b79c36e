"""Storing and processing Stripe events: one row per event id, processed exactly once."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from fiko_billing import signals
from fiko_billing.conf import PINNED_API_VERSION
from fiko_billing.models import EventStatus, WebhookEvent
from fiko_billing.webhooks.registry import handler_for

logger = logging.getLogger("fiko_billing.webhooks")

MAX_ERROR_LENGTH = 4000


class EventShapeError(ValueError):
    """The body is JSON but not a Stripe event."""


@dataclass(frozen=True)
class Stored:
    event: WebhookEvent
    created: bool


def store_event(data: Any) -> Stored:
    """Store a Stripe event once; a second delivery returns the stored row."""
    if not isinstance(data, dict) or data.get("object") != "event":
        raise EventShapeError("not a Stripe event object")
    event_id, event_type = data.get("id"), data.get("type")
    obj = (data.get("data") or {}).get("object")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise EventShapeError("event without id or type")
    if not isinstance(obj, dict) or not isinstance(data.get("created"), int):
        raise EventShapeError("event without data.object or created")
    existing = WebhookEvent.objects.filter(stripe_event_id=event_id).first()
    if existing is not None:
        return Stored(existing, False)
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                stripe_event_id=event_id,
                type=event_type[:100],
                api_version=str(data.get("api_version") or "")[:64],
                livemode=bool(data.get("livemode", False)),
                payload=data,
                stripe_created=datetime.fromtimestamp(data["created"], tz=UTC),
            )
    except IntegrityError:
        # The same event delivered concurrently: the other request stored it.
        return Stored(WebhookEvent.objects.get(stripe_event_id=event_id), False)
    if event.api_version and event.api_version != PINNED_API_VERSION:
        logger.warning(
            "event %s has API version %s, not the pinned %s; processing it as far as its "
            "shape allows (set the webhook endpoint's API version to the pinned one)",
            event_id,
            event.api_version,
            PINNED_API_VERSION,
        )
    return Stored(event, True)


def process_event(event_pk: int) -> str:
    """Process a stored event; returns the outcome.

    Outcomes: ``processed``, ``ignored`` (type not handled), ``duplicate``
    (already done) or ``failed`` (the handler raised: its writes are rolled
    back, the error and attempt count are recorded, and a retry may succeed).
    The event row stays locked while its handler runs, so concurrent
    deliveries of one event process it once.
    """
    started = time.monotonic()
    outcome, event = _process(event_pk)
    logger.info(
        "webhook event %s type=%s outcome=%s attempts=%d duration_ms=%.1f",
        event.stripe_event_id,
        event.type,
        outcome,
        event.attempts,
        (time.monotonic() - started) * 1000,
    )
    return outcome


def _process(event_pk: int) -> tuple[str, WebhookEvent]:
    with transaction.atomic():
        # Writing first takes the lock: the row lock on PostgreSQL, the write
        # lock on SQLite (which would refuse a read that later turns into a
        # write under concurrency). A concurrent delivery of the same event
        # waits here, then finds it no longer pending or failed.
        claimed = WebhookEvent.objects.filter(
            pk=event_pk, status__in=(EventStatus.PENDING, EventStatus.FAILED)
        ).update(attempts=F("attempts") + 1)
        event = WebhookEvent.objects.get(pk=event_pk)
        if not claimed:
            return "duplicate", event
        handler = handler_for(event.type)
        if handler is None:
            outcome = "ignored"
            event.status = EventStatus.IGNORED
        else:
            try:
                with transaction.atomic():
                    handler(event.payload["data"]["object"], event)
            except Exception as exc:
                logger.exception("webhook event %s (%s) failed", event.stripe_event_id, event.type)
                event.status = EventStatus.FAILED
                event.last_error = f"{exc.__class__.__name__}: {exc}"[:MAX_ERROR_LENGTH]
                event.save(update_fields=["status", "last_error"])
                outcome = "failed"
                signals.send_on_commit(
                    signals.webhook_event_processed, WebhookEvent, event=event, outcome=outcome
                )
                return outcome, event
            outcome = "processed"
            event.status = EventStatus.PROCESSED
        event.processed_at = timezone.now()
        event.last_error = ""
        event.save(update_fields=["status", "last_error", "processed_at"])
        signals.send_on_commit(
            signals.webhook_event_processed, WebhookEvent, event=event, outcome=outcome
        )
        return outcome, event
