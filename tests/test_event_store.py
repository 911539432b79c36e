"""``services.events.store``: the one raw statement of event intake, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fiko_billing.models import EventStatus, WebhookEvent
from fiko_billing.services.events.store import insert_once

pytestmark = pytest.mark.django_db


def event(event_id: str = "evt_store_1", **fields: object) -> WebhookEvent:
    payload = {"id": event_id, "object": "event", "data": {"object": {"name": "a\x00b\ue000"}}}
    return WebhookEvent(
        stripe_event_id=event_id,
        type="product.created",
        payload=payload,
        stripe_created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        **fields,
    )


def test_a_new_event_is_inserted_as_the_orm_would_store_it():
    row = event(status=EventStatus.PROCESSED, attempts=1)
    assert insert_once(row)
    assert row.pk is not None
    assert not row._state.adding
    stored = WebhookEvent.objects.get(pk=row.pk)
    assert stored.payload == row.payload  # U+0000 and U+E000 survive, as through save()
    assert (stored.status, stored.attempts, stored.failures) == (EventStatus.PROCESSED, 1, 0)
    assert stored.stripe_created == row.stripe_created
    assert stored.received_at is not None  # auto_now_add, as save() sets it
    assert stored.processed_at is None
    assert WebhookEvent.objects.filter(payload__data__object__name="a\x00b\ue000").exists()


def test_a_stored_event_id_inserts_nothing_and_changes_nothing():
    assert insert_once(event(status=EventStatus.PENDING))
    again = event(status=EventStatus.PROCESSED, attempts=5)
    assert not insert_once(again)
    assert again.pk is None
    stored = WebhookEvent.objects.get()
    assert (stored.status, stored.attempts) == (EventStatus.PENDING, 0)


def test_other_event_ids_are_inserted_beside_it():
    assert insert_once(event("evt_store_a"))
    assert insert_once(event("evt_store_b"))
    assert WebhookEvent.objects.count() == 2
