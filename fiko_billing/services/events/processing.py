"""Processing a stored event exactly once: claim its row, run its handlers, record the outcome.

A delivery's first arrival is stored and processed in one transaction
(``fiko_billing.services.events.delivery``); this module runs everything else:
a stored event retried (a redelivery of one that failed or waits, the
``process_webhook_events`` command, the task, one woken by its cause).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from fiko_billing import signals
from fiko_billing.conf import billing_settings
from fiko_billing.models import EventStatus, WebhookEvent
from fiko_billing.services import waiting
from fiko_billing.services.events.outcomes import Outcome
from fiko_billing.services.events.registry import Handler, handlers

logger = logging.getLogger("fiko_billing.webhooks")

MAX_ERROR_LENGTH = 4000
#: Statuses of an event still to be processed; ``replay`` adds DEAD.
TO_PROCESS = (EventStatus.PENDING, EventStatus.FAILED)


def process_event(event_pk: int, *, replay: bool = False) -> Outcome:
    """Process a stored event; returns the outcome. Never raises.

    Outcomes: ``processed``; ``ignored`` (type not handled); ``duplicate``
    (already done, or being done by a concurrent delivery); ``waiting`` (what
    it acts on is not recorded yet: it stays pending, nothing is written, and
    it runs again as soon as that is recorded); ``failed`` (a handler or the
    commit raised: everything is rolled back, the error and the attempt are
    recorded, a retry may succeed); ``dead`` (set aside after
    ``WEBHOOK_MAX_FAILURES`` failures or ``WEBHOOK_MAX_WAIT_DAYS`` of waiting;
    ``replay=True`` runs such an event again). The event row stays locked
    while its handlers run, so concurrent deliveries of one event process it once.
    """
    started = time.monotonic()
    try:
        outcome, event = _process(event_pk, replay=replay)
    except Exception as exc:
        # The transaction itself failed (at COMMIT, say): nothing it wrote
        # stays, but the attempt and the error do.
        logger.exception("webhook event %s could not be processed", event_pk)
        outcome, event = record_failure(event_pk, exc)
    log_outcome(event, outcome, started)
    return outcome


def log_outcome(event: WebhookEvent, outcome: Outcome, started: float, note: str = "") -> None:
    logger.info(
        "webhook event %s type=%s outcome=%s attempts=%d duration_ms=%.1f%s",
        event.stripe_event_id,
        event.type,
        outcome,
        event.attempts,
        (time.monotonic() - started) * 1000,
        note,
    )


def _claim(event_pk: int, *, replay: bool, skip_locked: bool) -> WebhookEvent | None:
    """The event, locked, if it is still to be processed; its attempt counted."""
    statuses = [*TO_PROCESS, *([EventStatus.DEAD] if replay else [])]
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
            return not_to_process(event), event
        return run_claimed(claimed), claimed


def not_to_process(event: WebhookEvent) -> Outcome:
    """The outcome of a delivery that found its event done or set aside."""
    return Outcome.DEAD if event.status == EventStatus.DEAD else Outcome.DUPLICATE


def run_claimed(event: WebhookEvent) -> Outcome:
    """Run the handlers of an event stored earlier and locked by this transaction.

    A savepoint guards the handlers here: when they fail or wait, what they
    wrote is undone but the event row keeps the attempt, in this transaction.
    """
    to_run = handlers.handlers_for(event.type)
    woken: set[str] = set()
    if to_run:
        try:
            with waiting.collecting() as woken, transaction.atomic():
                run_handlers(to_run, event)
        except waiting.Wait as wait:
            outcome = mark_waiting(event, wait)
            event.save(update_fields=["status", "attempts", "waiting_for", "last_error"])
            send_processed(event, outcome)
            return outcome
        except Exception as exc:
            logger.exception("webhook event %s (%s) failed", event.stripe_event_id, event.type)
            outcome = mark_failed(event, exc)
            event.save(update_fields=["status", "attempts", "failures", "last_error"])
            send_processed(event, outcome)
            return outcome
    outcome = mark_done(event, handled=bool(to_run))
    event.save(update_fields=["status", "attempts", "last_error", "waiting_for", "processed_at"])
    send_processed(event, outcome)
    wake_now(woken, exclude=event.pk)
    return outcome


def run_handlers(to_run: list[Handler], event: WebhookEvent) -> None:
    obj = event.payload["data"]["object"]
    for handler in to_run:
        handler(obj, event)


def send_processed(event: WebhookEvent, outcome: Outcome) -> None:
    signals.send_on_commit(
        signals.webhook_event_processed, WebhookEvent, event=event, outcome=outcome
    )


def mark_done(event: WebhookEvent, *, handled: bool) -> Outcome:
    event.status = EventStatus.PROCESSED if handled else EventStatus.IGNORED
    event.processed_at = timezone.now()
    event.last_error = ""
    event.waiting_for = ""
    return Outcome.PROCESSED if handled else Outcome.IGNORED


def mark_waiting(event: WebhookEvent, wait: waiting.Wait) -> Outcome:
    """An expected wait: the event stays pending under the key it waits for."""
    event.waiting_for = wait.key
    event.last_error = f"waiting: {wait}"[:MAX_ERROR_LENGTH]
    event.processed_at = None
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
        return Outcome.DEAD
    event.status = EventStatus.PENDING
    logger.info(
        "webhook event %s (%s) waits for %s: %s", event.stripe_event_id, event.type, wait.key, wait
    )
    return Outcome.WAITING


def mark_failed(event: WebhookEvent, exc: BaseException) -> Outcome:
    event.failures += 1
    event.last_error = f"{exc.__class__.__name__}: {exc}"[:MAX_ERROR_LENGTH]
    event.processed_at = None
    if event.failures >= billing_settings.WEBHOOK_MAX_FAILURES:
        event.status = EventStatus.DEAD
        logger.error(
            "webhook event %s (%s) set aside after %d failures; replay it with "
            "`manage.py process_webhook_events --dead`",
            event.stripe_event_id,
            event.type,
            event.failures,
        )
        return Outcome.DEAD
    event.status = EventStatus.FAILED
    return Outcome.FAILED


def record_failure(event_pk: int, exc: BaseException) -> tuple[Outcome, WebhookEvent]:
    """Count a failed attempt on a stored event, in a transaction of its own."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if event.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
            # Committed; what failed came after (a signal receiver).
            return Outcome(str(event.status)), event
        event.attempts += 1
        outcome = mark_failed(event, exc)
        event.save(update_fields=["status", "attempts", "failures", "last_error"])
        return outcome, event


def wake_now(keys: set[str], *, exclude: int) -> None:
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
        started = time.monotonic()
        outcome, event = _process(pk, skip_locked=True)
        log_outcome(event, outcome, started, " (woken)")


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
