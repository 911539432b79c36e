"""``prune_webhook_events``: done events past the retention period go; the rest stay."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.db import DatabaseError
from django.db.models import QuerySet

from fiko_billing.management.progress import format_table
from fiko_billing.models import EventStatus, WebhookEvent
from fiko_billing.services.events import store_event
from fiko_billing.testing import payloads
from tests.stories import command_failure, command_output

pytestmark = pytest.mark.django_db

DAY = 86400


def stored(days_old: int, status: EventStatus) -> str:
    data = payloads.event(
        "product.created", payloads.product(), created=int(time.time()) - days_old * DAY
    )
    event = store_event(data).event
    WebhookEvent.objects.filter(pk=event.pk).update(status=status)
    return event.stripe_event_id


@pytest.fixture
def events() -> dict[str, str]:
    return {
        "old processed": stored(100, EventStatus.PROCESSED),
        "old ignored": stored(91, EventStatus.IGNORED),
        "old failed": stored(100, EventStatus.FAILED),
        "old dead": stored(200, EventStatus.DEAD),
        "old pending": stored(95, EventStatus.PENDING),
        "young processed": stored(89, EventStatus.PROCESSED),
    }


def left() -> set[str]:
    return set(WebhookEvent.objects.values_list("stripe_event_id", flat=True))


def test_done_events_past_retention_go_and_the_summary_says_so(events):
    out = command_output("prune_webhook_events")
    assert left() == {
        events[k] for k in ("old failed", "old dead", "old pending", "young processed")
    }
    table = format_table(
        ["status", "deleted", "kept (needs attention)"],
        [
            ("dead", 0, 1),
            ("failed", 0, 1),
            ("ignored", 1, 0),
            ("pending", 0, 1),
            ("processed", 1, 0),
        ],
    )
    assert table in out
    assert "2 event(s) created before" in out
    assert "deleted; 3 older one(s) kept." in out


def test_a_dry_run_deletes_nothing(events):
    out = command_output("prune_webhook_events", "--dry-run")
    assert left() == set(events.values())
    assert "2 event(s) created before" in out
    assert "would be deleted" in out


def test_the_setting_and_days_move_the_cutoff(events, settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "WEBHOOK_EVENT_RETENTION_DAYS": 120}
    command_output("prune_webhook_events", "--batch-size", "1")
    assert len(left()) == len(events)  # nothing done is older than 120 days
    command_output("prune_webhook_events", "--days", "31", "--batch-size", "1")
    assert events["young processed"] not in left()
    assert events["old processed"] not in left()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "30"], "--days must be 31 or more"),
        (["--batch-size", "0"], "--batch-size must be 1 or more"),
    ],
)
def test_bad_arguments_fail(events, args, message):
    error, _out = command_failure("prune_webhook_events", *args)
    assert message in str(error)
    assert left() == set(events.values())


def test_a_database_failure_exits_non_zero(events, monkeypatch):
    def refuse(self: QuerySet[WebhookEvent]) -> tuple[int, dict[str, int]]:
        raise DatabaseError("the database went away")

    monkeypatch.setattr(QuerySet, "delete", refuse)
    error, _out = command_failure("prune_webhook_events")
    assert "Pruning stopped: DatabaseError: the database went away" in str(error)


def test_progress_is_drawn_on_a_terminal(events):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    call_command("prune_webhook_events", "--batch-size", "1", stdout=out)
    assert "\revents deleted: 1/2" in out.getvalue()
    assert "\revents deleted: 2/2" in out.getvalue()
