"""One event delivered by 8 threads at once is processed once (PostgreSQL)."""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from fiko_billing.models import EventStatus, TokenEntry, WebhookEvent
from fiko_billing.testing import payloads
from fiko_billing.testing.webhooks import post_event
from tests.factories import CustomerFactory, PlanPriceFactory

THREADS = 8


ON_SQLITE_FILE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and bool(
    os.environ.get("FIKO_TEST_SQLITE_FILE")
)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_event_from_eight_threads_is_processed_once():
    deliver_from_eight_threads()


@pytest.mark.skipif(
    not ON_SQLITE_FILE,
    reason="needs SQLite on a file: set FIKO_TEST_SQLITE_FILE=/tmp/fiko-test.sqlite3",
)
@pytest.mark.django_db(transaction=True)
def test_one_event_from_eight_threads_on_a_sqlite_file():
    deliver_from_eight_threads()


def deliver_from_eight_threads() -> None:
    customer = CustomerFactory(stripe_customer_id="cus_c")
    PlanPriceFactory(
        stripe_price_id="price_c", plan__stripe_product_id="prod_c", plan__tokens_per_period=700
    )
    stripe_price = payloads.price(
        id="price_c", product_id="prod_c", unit_amount=500, interval="month"
    )
    now = int(time.time())
    invoice = payloads.invoice(
        id="in_c",
        customer_id="cus_c",
        subscription_id="sub_c",
        price_obj=stripe_price,
        period_start=now,
        period_end=now + 30 * 86400,
    )
    event = payloads.event("invoice.paid", invoice, id="evt_c")
    barrier = threading.Barrier(THREADS)
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()

    def deliver() -> None:
        try:
            barrier.wait()
            response = post_event(event)
            with lock:
                outcomes.append((response.status_code, response.json()["outcome"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [(200, "duplicate")] * (THREADS - 1) + [(200, "processed")]
    stored = WebhookEvent.objects.get()
    assert (stored.status, stored.attempts) == (EventStatus.PROCESSED, 1)
    entry = TokenEntry.objects.get()
    assert (entry.amount, entry.reference) == (700, "invoice:in_c")
    assert customer.subscriber.token_account.balance == 700
