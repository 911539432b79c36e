"""Deliveries about one new subscription arriving at once, on PostgreSQL.

Stripe sends ``customer.subscription.created`` and ``.updated`` of a new
subscription within the same second, and a site with several workers takes
them in parallel: whichever comes first makes the row, the other must find it
and update it, never fail on the row's unique Stripe id.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from fiko_billing.models import EventStatus, Subscription, WebhookEvent
from fiko_billing.testing.webhooks import post_event
from tests.stories import Story
from tests.test_tokens_concurrency import run_together

ROUNDS = 30


def deliver(event: dict[str, Any]) -> tuple[int, str]:
    response = post_event(json.loads(json.dumps(event)))
    body = response.json()
    return response.status_code, str(body.get("outcome") or body["error"]["code"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_created_and_updated_of_a_new_subscription_at_once_make_one_row():
    start = int(time.time()) - 60
    stories = [
        Story(f"race{n}", start=start, tokens_per_period=100, plan_suffix=f"race{n}")
        for n in range(ROUNDS)
    ]
    outcomes: list[tuple[int, str]] = []
    for story in stories:
        pair = [
            story.subscription_event("created", at=start),
            story.subscription_event("updated", at=start + 1, cancel_at_period_end=True),
        ]
        together = run_together(lambda i, pair=pair: deliver(pair[i]), threads=len(pair))
        assert [outcome.errors for outcome in together] == [[], []]
        outcomes.extend(outcome.results[0] for outcome in together)

    assert outcomes == [(200, "processed")] * (2 * ROUNDS)
    assert list(WebhookEvent.objects.exclude(status=EventStatus.PROCESSED)) == []
    for story in stories:
        row = Subscription.objects.get(stripe_subscription_id=story.subscription_id)
        # The later event's state, whichever was processed first.
        assert row.cancel_at_period_end is True
        assert row.subscriber_id == story.subscriber.pk
