"""A delivered event: stored once, and (processing in the request) processed in the same
transaction, with one commit.

The first delivery of an event inserts its row already in its final state
(processed, or ignored when nobody handles its type), runs the handlers and
commits: storing, processing and the outcome are one transaction, so a crash
leaves either all of it or none of it. Nothing needs undoing on the way, so
no savepoint guards the handlers: when one fails or waits, the whole
transaction rolls back and the event is stored failed (or waiting) in a short
transaction of its own. A later delivery of a stored event finds it with the
same insert (which then inserts nothing) and processes it only if it is still
pending or failed (``processing.run_claimed``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

from fiko_billing.conf import PINNED_API_VERSION
from fiko_billing.models import EventStatus, WebhookEvent
from fiko_billing.services import waiting
from fiko_billing.services.events.outcomes import Outcome
from fiko_billing.services.events.processing import (
    TO_PROCESS,
    log_outcome,
    mark_done,
    mark_failed,
    mark_waiting,
    not_to_process,
    record_failure,
    run_claimed,
    run_handlers,
    send_processed,
    wake_now,
)
from fiko_billing.services.events.registry import handlers
from fiko_billing.services.events.store import insert_once

logger = logging.getLogger("fiko_billing.webhooks")


class EventShapeError(ValueError):
    """The body is JSON but not a Stripe event."""


@dataclass(frozen=True)
class Stored:
    event: WebhookEvent
    created: bool

    @property
    def to_process(self) -> bool:
        """New, or stored before and still pending or failed (a dead one waits for a person)."""
        return self.created or self.event.status in TO_PROCESS


def new_event(data: object) -> WebhookEvent:
    """The unsaved row of a Stripe event, pending; ``EventShapeError`` if it is none."""
    if not isinstance(data, dict) or data.get("object") != "event":
        raise EventShapeError("not a Stripe event object")
    event_id, event_type = data.get("id"), data.get("type")
    obj = (data.get("data") or {}).get("object")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise EventShapeError("event without id or type")
    if not isinstance(obj, dict) or not isinstance(data.get("created"), int):
        raise EventShapeError("event without data.object or created")
    return WebhookEvent(
        stripe_event_id=event_id,
        type=event_type[:100],
        api_version=str(data.get("api_version") or "")[:64],
        livemode=bool(data.get("livemode", False)),
        payload=data,
        stripe_created=datetime.fromtimestamp(data["created"], tz=UTC),
    )


def _check_version(event: WebhookEvent) -> None:
    if event.api_version and event.api_version != PINNED_API_VERSION:
        logger.warning(
            "event %s has API version %s, not the pinned %s; processing it as far as its "
            "shape allows (set the webhook endpoint's API version to the pinned one)",
            event.stripe_event_id,
            event.api_version,
            PINNED_API_VERSION,
        )


def store_event(data: object) -> Stored:
    """Store a Stripe event once, pending; a second delivery returns the stored row."""
    event = new_event(data)
    if insert_once(event):
        _check_version(event)
        return Stored(event, True)
    return Stored(WebhookEvent.objects.get(stripe_event_id=event.stripe_event_id), False)


def receive(data: object) -> Outcome:
    """Store and process a delivered event in one transaction; the outcome. Raises only
    ``EventShapeError`` (and a database that cannot store the event at all)."""
    event = new_event(data)
    started = time.monotonic()
    try:
        outcome, event = _receive(event)
    except Exception as exc:
        logger.exception(
            "webhook event %s (%s) could not be processed", event.stripe_event_id, event.type
        )
        outcome, event = _store_failed(event, exc)
    log_outcome(event, outcome, started)
    return outcome


def _receive(event: WebhookEvent) -> tuple[Outcome, WebhookEvent]:
    to_run = handlers.handlers_for(event.type)
    event.attempts = 1
    outcome = mark_done(event, handled=bool(to_run))
    try:
        with transaction.atomic():
            if not insert_once(event):
                return _redelivered(event.stripe_event_id)
            _check_version(event)
            with waiting.collecting() as woken:
                run_handlers(to_run, event)
            send_processed(event, outcome)
            wake_now(woken, exclude=event.pk)
            return outcome, event
    except waiting.Wait as wait:
        # Nothing of the attempt stays: store the event to wait, on its own.
        return _store_waiting(event, wait), event


def _redelivered(stripe_event_id: str) -> tuple[Outcome, WebhookEvent]:
    """A delivery of a stored event: processed now only if it is still to be."""
    rows = WebhookEvent.objects.filter(stripe_event_id=stripe_event_id)
    if connection.features.has_select_for_update:
        rows = rows.select_for_update()
    # On SQLite the insert that found the row took the database's write lock.
    event = rows.get()
    if event.status not in TO_PROCESS:
        return not_to_process(event), event
    event.attempts += 1
    return run_claimed(event), event


def _store_waiting(event: WebhookEvent, wait: waiting.Wait) -> Outcome:
    outcome = mark_waiting(event, wait)
    with transaction.atomic():
        if not insert_once(event):
            # A concurrent delivery stored it meanwhile; that one answers for it.
            return Outcome.DUPLICATE
        send_processed(event, outcome)
    return outcome


def _store_failed(event: WebhookEvent, exc: BaseException) -> tuple[Outcome, WebhookEvent]:
    """Store the failed first attempt; a stored event gets the attempt counted instead."""
    event.pk = None
    event._state.adding = True
    event.status = EventStatus.PENDING
    outcome = mark_failed(event, exc)
    with transaction.atomic():
        if insert_once(event):
            send_processed(event, outcome)
            return outcome, event
    stored = WebhookEvent.objects.get(stripe_event_id=event.stripe_event_id)
    return record_failure(stored.pk, exc)
