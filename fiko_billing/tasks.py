"""Task-framework entry points: webhook processing off the request path.

``django.tasks`` on Django 6; the ``django-tasks`` backport on Django 5.2
(``pip install fiko-billing[tasks]``). The host's configured task backend
(``TASKS``) carries the work: a database queue, RQ, Celery, ...
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

if find_spec("django.tasks"):  # Django 6.0+
    from django.tasks import task
elif find_spec("django_tasks"):  # the backport, on Django 5.2
    from django_tasks import task  # type: ignore[no-redef]
else:  # pragma: no cover - configuration error reported on use
    task = None  # type: ignore[assignment]


def _require_framework() -> Any:
    if task is None:
        raise ImproperlyConfigured(
            "FIKO_BILLING['WEBHOOK_PROCESSING'] is 'task' but no task framework is installed: "
            "on Django 5.2 install the django-tasks backport (pip install 'fiko-billing[tasks]')."
        )
    return task


def _run(event_pk: int) -> str:
    from fiko_billing.services.events import process_event

    outcome = process_event(event_pk)
    if outcome.is_failure:
        # A failed task shows in the task backend; process_webhook_events --failed (or
        # --dead) retries. A waiting event is no failure: it runs again by itself.
        raise RuntimeError(f"webhook event {event_pk} {outcome}; see WebhookEvent.last_error")
    return outcome


if task is not None:

    @task()
    def process_webhook_event(event_pk: int) -> str:
        """Process one stored Stripe event (``fiko_billing.services.events.process_event``)."""
        return _run(event_pk)


def enqueue_event(event_pk: int) -> None:
    """Queue the processing of a stored event once the current transaction commits."""
    queued = _require_framework() and process_webhook_event
    transaction.on_commit(lambda: queued.enqueue(event_pk))
