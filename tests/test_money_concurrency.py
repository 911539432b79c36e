"""Concurrent events of one invoice on PostgreSQL: no deadlock, one effect; failures at COMMIT.

``invoice.payment_failed`` and ``invoice.paid`` of one invoice processed at
the same moment used to deadlock (each held a row the other needed). Every
path now takes the subscriber's ledger lock first.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from fiko_billing.models import (
    EventStatus,
    Payment,
    PaymentStatus,
    TokenEntry,
    WebhookEvent,
)
from fiko_billing.services.events import registry
from fiko_billing.testing.hosted import CARD_FAILS_AT_RENEWAL, CARD_SUCCEEDS
from fiko_billing.testing.webhooks import post_event
from tests.money_world import HOUR, RENEWAL_1, RENEWAL_2, MoneyWorld, at_time

PAIRS = 200


@pytest.fixture
def world(settings: Any, transactional_db: None) -> Iterator[MoneyWorld]:
    running = MoneyWorld(settings)
    yield running
    running.close()


def deliver(event: dict[str, Any]) -> tuple[int, str]:
    with at_time(int(event["created"])):
        response = post_event(json.loads(json.dumps(event)))
    assert response["Content-Type"] == "application/json", response.content
    body = response.json()
    return response.status_code, str(body.get("outcome") or body["error"]["code"])


def copy_for(event: dict[str, Any], invoice_id: str, n: int) -> dict[str, Any]:
    """The same event about another invoice of the same subscription."""
    twin = copy.deepcopy(event)
    twin["id"] = f"{event['id']}_{n}"
    invoice = twin["data"]["object"]
    old = invoice["id"]
    text = json.dumps(invoice).replace(old, invoice_id)
    twin["data"]["object"] = json.loads(text)
    return twin


@pytest.mark.heavy
@pytest.mark.postgres
def test_paid_and_failed_of_one_invoice_at_once_never_deadlock_and_apply_once(world):
    world.checkout(world.monthly)
    world.advance_to(RENEWAL_1 + 2 * HOUR)
    world.update_card(CARD_FAILS_AT_RENEWAL)
    world.advance_to(RENEWAL_2 + HOUR)  # the renewal fails...
    world.update_card(CARD_SUCCEEDS)  # ...and is paid in the same second
    events = world.events()
    failed = next(e for e in events if e["type"] == "invoice.payment_failed")
    paid = next(
        e
        for e in events
        if e["type"] == "invoice.paid"
        and e["data"]["object"]["id"] == failed["data"]["object"]["id"]
    )
    assert failed["data"]["object"]["id"] == paid["data"]["object"]["id"]
    for event in events:
        if event not in (failed, paid):
            deliver(event)

    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()
    for n in range(PAIRS):
        invoice_id = f"in_pair{n:04d}"
        pair = [copy_for(failed, invoice_id, n), copy_for(paid, invoice_id, n)]
        barrier = threading.Barrier(2)

        def run(event: dict[str, Any], barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait()
                answer = deliver(event)
                with lock:
                    outcomes.append(answer)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(event,)) for event in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert outcomes == [(200, "processed")] * (2 * PAIRS)
    pairs = WebhookEvent.objects.filter(stripe_event_id__contains="_")
    assert list(pairs.exclude(status=EventStatus.PROCESSED)) == []
    assert sum(pairs.values_list("failures", flat=True)) == 0
    for n in range(PAIRS):
        invoice_id = f"in_pair{n:04d}"
        payment = Payment.objects.get(stripe_invoice_id=invoice_id)
        assert (payment.status, payment.tokens) == (PaymentStatus.SUCCEEDED, 1_000)
        assert TokenEntry.objects.filter(reference=f"invoice:{invoice_id}").count() == 1
    account = world.subscriber.token_account
    account.refresh_from_db()
    assert account.balance == sum(TokenEntry.objects.values_list("amount", flat=True))


@pytest.mark.postgres
def test_a_failure_at_commit_answers_json_and_is_recorded(world, monkeypatch):
    world.checkout(world.package)
    events = world.events()
    for event in events:
        if event["type"] != "checkout.session.completed":
            deliver(event)
    completed = next(e for e in events if e["type"] == "checkout.session.completed")
    original = registry.handlers._ours.get("checkout.session.completed")
    assert original is not None

    def handler(obj: dict[str, Any], event: Any) -> None:
        original(obj, event)
        # PostgreSQL checks this foreign key only at COMMIT (it is deferred).
        Payment.objects.filter(stripe_checkout_session_id=obj["id"]).update(subscription_id=10**12)

    monkeypatch.setitem(registry.handlers._ours, "checkout.session.completed", handler)
    assert deliver(completed) == (500, "processing_failed")

    row = WebhookEvent.objects.get(stripe_event_id=completed["id"])
    assert (row.status, row.attempts, row.failures) == (EventStatus.FAILED, 1, 1)
    assert row.last_error.startswith("IntegrityError")
    assert not TokenEntry.objects.exists()  # nothing of the failed transaction stayed
    payment = Payment.objects.get(stripe_checkout_session_id=completed["data"]["object"]["id"])
    assert payment.status == PaymentStatus.PENDING

    monkeypatch.setitem(registry.handlers._ours, "checkout.session.completed", original)
    assert deliver(completed) == (200, "processed")
    row.refresh_from_db()
    assert (row.status, row.attempts, row.failures) == (EventStatus.PROCESSED, 2, 1)
