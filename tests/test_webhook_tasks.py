"""WEBHOOK_PROCESSING = "task": the view stores and enqueues; a real worker processes."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from fiko_billing import tokens
from fiko_billing.models import EventStatus, WebhookEvent
from fiko_billing.testing import payloads
from fiko_billing.testing.webhooks import post_event
from tests.factories import CustomerFactory, PlanPriceFactory

pytest.importorskip("django_tasks_db", reason="the task tests need django-tasks-db (extra 'test')")


@pytest.fixture
def task_mode(settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "WEBHOOK_PROCESSING": "task"}


def paid_invoice_event(event_id: str) -> tuple[object, dict]:
    customer = CustomerFactory(stripe_customer_id="cus_t")
    PlanPriceFactory(
        stripe_price_id="price_t", plan__stripe_product_id="prod_t", plan__tokens_per_period=300
    )
    stripe_price = payloads.price(
        id="price_t", product_id="prod_t", unit_amount=500, interval="month"
    )
    now = int(time.time())
    invoice = payloads.invoice(
        id="in_t",
        customer_id="cus_t",
        subscription_id="sub_t",
        price_obj=stripe_price,
        period_start=now,
        period_end=now + 30 * 86400,
    )
    return customer.subscriber, payloads.event("invoice.paid", invoice, id=event_id)


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--queue-name", "*")


@pytest.mark.django_db(transaction=True)
def test_view_answers_at_once_and_the_worker_processes(task_mode):
    subscriber, event = paid_invoice_event("evt_task")
    response = post_event(event)
    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "queued"}
    stored = WebhookEvent.objects.get()
    assert stored.status == EventStatus.PENDING
    assert tokens.balance(subscriber) == 0

    run_worker()

    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == (EventStatus.PROCESSED, 1)
    assert tokens.balance(subscriber) == 300


@pytest.mark.django_db(transaction=True)
def test_duplicate_delivery_is_not_queued_twice_and_processed_once(task_mode):
    from django_tasks_db.models import DBTaskResult

    subscriber, event = paid_invoice_event("evt_dup")
    post_event(event)
    run_worker()
    post_event(event)  # already processed: nothing to queue
    assert DBTaskResult.objects.count() == 1
    run_worker()
    assert tokens.balance(subscriber) == 300


@pytest.mark.django_db(transaction=True)
def test_a_failed_event_is_queued_again_on_redelivery(task_mode, monkeypatch):
    from fiko_billing.services.events import registry

    subscriber, event = paid_invoice_event("evt_fail")
    original = registry.handlers._ours["invoice.paid"]
    state = {"fail": True}

    def flaky(obj, ev):
        if state["fail"]:
            raise RuntimeError("down")
        original(obj, ev)

    monkeypatch.setitem(registry.handlers._ours, "invoice.paid", flaky)
    post_event(event)
    run_worker()
    assert WebhookEvent.objects.get().status == EventStatus.FAILED
    state["fail"] = False
    post_event(event)  # Stripe's retry of the same event
    run_worker()
    stored = WebhookEvent.objects.get()
    assert (stored.status, stored.attempts) == (EventStatus.PROCESSED, 2)
    assert tokens.balance(subscriber) == 300
