"""Storing and processing Stripe events: one row per event id, processed exactly once."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from fiko_billing import signals
from fiko_billing.conf import PINNED_API_VERSION, billing_settings
from fiko_billing.models import EventStatus, WebhookEvent
from fiko_billing.services import waiting
from fiko_billing.services.events.outcomes import Outcome
from fiko_billing.services.events.registry import handlers

logger = logging.getLogger("fiko_billing.webhooks")

MAX_ERROR_LENGTH = 4000


class EventShapeError(ValueError):
    """The body is JSON but not a Stripe event."""


@dataclass(frozen=True)
class Stored:
    event: WebhookEvent
    created: bool

    @property
    def to_process(self) -> bool:
        """New, or stored before and still pending or failed (a dead one waits for a person)."""
        return self.created or self.event.status in (EventStatus.PENDING, EventStatus.FAILED)


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


def process_event(event_pk: int, *, replay: bool = False) -> Outcome:
    """Process a stored event; returns the outcome. Never raises.

    Outcomes: ``processed``; ``ignored`` (type not handled); ``duplicate``
    (already done, or being done by a concurrent delivery); ``waiting`` (what
    it acts on is not recorded yet: it stays pending, nothing is written, and
    it runs again as soon as that is recorded); ``failed`` (the handler or the
    commit raised: everything is rolled back, the error and the attempt are
    recorded, a retry may succeed); ``dead`` (set aside after
    ``WEBHOOK_MAX_FAILURES`` failures or ``WEBHOOK_MAX_WAIT_DAYS`` of waiting;
    ``replay=True`` runs such an event again). The event row stays locked
    while its handler runs, so concurrent deliveries of one event process it once.
    """
    started = time.monotonic()
    try:
        outcome, event = _process(event_pk, replay=replay)
    except Exception as exc:
        # The transaction itself failed (at COMMIT, say): nothing it wrote
        # stays, but the attempt and the error do.
        logger.exception("webhook event %s could not be processed", event_pk)
        outcome, event = _record_failure(event_pk, exc)
    logger.info(
        "webhook event %s type=%s outcome=%s attempts=%d duration_ms=%.1f",
        event.stripe_event_id,
        event.type,
        outcome,
        event.attempts,
        (time.monotonic() - started) * 1000,
    )
    return outcome


def _claim(event_pk: int, *, replay: bool, skip_locked: bool) -> WebhookEvent | None:
    """The event, locked, if it is still to be processed; its attempt counted."""
    statuses = [EventStatus.PENDING, EventStatus.FAILED] + ([EventStatus.DEAD] if replay else [])
    if connection.features.has_select_for_update:
        # A woken event another process is working on is left to it.
        rows = WebhookEvent.objects.select_for_update(
            skip_locked=skip_locked and connection.features.has_select_for_update_skip_locked
        )
        event = rows.filter(pk=event_pk, status__in=statuses).first()
        if event is not None:
            event.attempts += 1  # saved with the outcome
        return event
    # SQLite has no row locks: writing first takes its write lock (a read
    # that later turns into a write could be refused under concurrency). A
    # concurrent delivery of the same event waits here, then finds it no
    # longer pending or failed.
    claimed = WebhookEvent.objects.filter(pk=event_pk, status__in=statuses).update(
        attempts=F("attempts") + 1
    )
    return WebhookEvent.objects.get(pk=event_pk) if claimed else None


def _process(
    event_pk: int, *, replay: bool = False, skip_locked: bool = False
) -> tuple[Outcome, WebhookEvent]:
    with transaction.atomic():
        claimed = _claim(event_pk, replay=replay, skip_locked=skip_locked)
        if claimed is None:
            event = WebhookEvent.objects.get(pk=event_pk)
            outcome = Outcome.DEAD if event.status == EventStatus.DEAD else Outcome.DUPLICATE
            return outcome, event
        event = claimed
        to_run = handlers.handlers_for(event.type)
        if not to_run:
            outcome = Outcome.IGNORED
            event.status = EventStatus.IGNORED
            woken: set[str] = set()
        else:
            try:
                with waiting.collecting() as woken, transaction.atomic():
                    for handler in to_run:
                        handler(event.payload["data"]["object"], event)
            except waiting.Wait as wait:
                return _waiting(event, wait), event
            except Exception as exc:
                logger.exception("webhook event %s (%s) failed", event.stripe_event_id, event.type)
                outcome = _failed(event, exc)
                signals.send_on_commit(
                    signals.webhook_event_processed, WebhookEvent, event=event, outcome=outcome
                )
                return outcome, event
            outcome = Outcome.PROCESSED
            event.status = EventStatus.PROCESSED
        event.processed_at = timezone.now()
        event.last_error = ""
        event.waiting_for = ""
        event.save(
            update_fields=["status", "attempts", "last_error", "waiting_for", "processed_at"]
        )
        signals.send_on_commit(
            signals.webhook_event_processed, WebhookEvent, event=event, outcome=outcome
        )
        _wake_now(woken, exclude=event.pk)
        return outcome, event


def _waiting(event: WebhookEvent, wait: waiting.Wait) -> Outcome:
    """An expected wait: the event stays pending under the key it waits for."""
    event.waiting_for = wait.key
    event.last_error = f"waiting: {wait}"[:MAX_ERROR_LENGTH]
    limit = timedelta(days=billing_settings.WEBHOOK_MAX_WAIT_DAYS)
    if event.received_at is not None and timezone.now() - event.received_at > limit:
        event.status = EventStatus.DEAD
        event.last_error = f"gave up waiting: {wait}"[:MAX_ERROR_LENGTH]
        logger.error(
            "webhook event %s (%s) set aside after waiting %s: %s",
            event.stripe_event_id,
            event.type,
            limit,
            wait,
        )
        outcome = Outcome.DEAD
    else:
        event.status = EventStatus.PENDING
        logger.info(
            "webhook event %s (%s) waits for %s: %s",
            event.stripe_event_id,
            event.type,
            wait.key,
            wait,
        )
        outcome = Outcome.WAITING
    event.save(update_fields=["status", "attempts", "waiting_for", "last_error"])
    signals.send_on_commit(
        signals.webhook_event_processed, WebhookEvent, event=event, outcome=outcome
    )
    return outcome


def _failed(event: WebhookEvent, exc: BaseException) -> Outcome:
    event.failures += 1
    event.last_error = f"{exc.__class__.__name__}: {exc}"[:MAX_ERROR_LENGTH]
    if event.failures >= billing_settings.WEBHOOK_MAX_FAILURES:
        event.status = EventStatus.DEAD
        logger.error(
            "webhook event %s (%s) set aside after %d failures; replay it with "
            "`manage.py process_webhook_events --dead`",
            event.stripe_event_id,
            event.type,
            event.failures,
        )
        outcome = Outcome.DEAD
    else:
        event.status = EventStatus.FAILED
        outcome = Outcome.FAILED
    event.save(update_fields=["status", "attempts", "failures", "last_error"])
    return outcome


def _record_failure(event_pk: int, exc: BaseException) -> tuple[Outcome, WebhookEvent]:
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if event.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
            # Committed; what failed came after (a signal receiver).
            return Outcome(str(event.status)), event
        event.attempts += 1
        return _failed(event, exc), event


def _wake_now(keys: set[str], *, exclude: int) -> None:
    """Run, in this transaction, the events that waited for what was just recorded."""
    if not keys:
        return
    woken = (
        WebhookEvent.objects.filter(status=EventStatus.PENDING, waiting_for__in=keys)
        .exclude(pk=exclude)
        .order_by("stripe_created", "pk")
        .values_list("pk", flat=True)
    )
    for pk in list(woken):
        outcome, event = _process(pk, skip_locked=True)
        logger.info(
            "webhook event %s type=%s outcome=%s attempts=%d (woken)",
            event.stripe_event_id,
            event.type,
            outcome,
            event.attempts,
        )


def wake(keys: set[str]) -> None:
    """Run the events waiting for ``keys``, each in its own transaction (after a commit)."""
    woken = (
        WebhookEvent.objects.filter(status=EventStatus.PENDING, waiting_for__in=keys)
        .order_by("stripe_created", "pk")
        .values_list("pk", flat=True)
    )
    for pk in list(woken):
        process_event(pk)


waiting.set_waker(wake)
