"""The handler registry: ours once per type, a host's added beside them, exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from fiko_billing.models import EntryKind, EventStatus, Payment, TokenEntry, WebhookEvent
from fiko_billing.services.events import handled_event_types, registry
from fiko_billing.testing import payloads
from fiko_billing.testing.webhooks import post_event
from fiko_billing.webhooks import on_event, register_handler
from fiko_billing.webhooks.handlers import HANDLERS
from tests.stories import Story


@pytest.fixture
def added() -> Iterator[list[tuple[str, Any]]]:
    """What a test adds to the registry, removed again after it."""
    done: list[tuple[str, Any]] = []
    yield done
    for event_type, handler in done:
        registry.handlers.remove(event_type, handler)


def add(added: list[tuple[str, Any]], event_type: str, handler: Any) -> None:
    register_handler(event_type, handler)
    added.append((event_type, handler))


@pytest.fixture
def world(db: None) -> Story:
    return Story("r", start=int(time.time()) - 60, tokens_per_period=1_000)


def paid(world: Story, invoice_id: str = "in_r1") -> dict[str, Any]:
    return world.invoice_event(
        "paid", invoice_id, start=world.t0, reason="subscription_create", at=world.t0
    )


def test_ours_is_one_table_without_repeats():
    types = [event_type for event_type, _handler in HANDLERS]
    assert len(types) == len(set(types))
    assert set(types) <= set(handled_event_types())


def test_a_second_handler_of_ours_for_one_type_is_refused():
    own = registry.HandlerRegistry()
    own.install(HANDLERS)
    own.install(HANDLERS)  # the same table again (a second app setup) changes nothing

    def other(obj: dict[str, Any], event: Any) -> None:
        pass

    with pytest.raises(
        ImproperlyConfigured, match=r"Two fiko_billing handlers for 'invoice\.paid'"
    ):
        own.install([("invoice.paid", other)])
    assert own.handlers_for("invoice.paid") == [dict(HANDLERS)["invoice.paid"]]


def test_the_same_host_handler_twice_for_one_type_is_refused(added):
    def note(obj: dict[str, Any], event: Any) -> None:
        pass

    add(added, "invoice.paid", note)
    with pytest.raises(ImproperlyConfigured, match=r"already registered for 'invoice\.paid'"):
        register_handler("invoice.paid", note)
    assert registry.handlers.handlers_for("invoice.paid").count(note) == 1


@pytest.mark.parametrize("event_type", ["", " invoice.paid", None])
def test_a_host_handler_needs_an_event_type(event_type):
    with pytest.raises(ImproperlyConfigured, match="Not a Stripe event type"):
        register_handler(event_type, lambda obj, event: None)  # type: ignore[arg-type]


@pytest.mark.django_db(transaction=True)
def test_host_handlers_run_after_ours_in_its_transaction_once(world, added):
    seen: list[tuple[str, str, bool, int]] = []

    def first(invoice: dict[str, Any], event: Any) -> None:
        # Ours ran: the payment and its grant are there, in the same transaction.
        payment = Payment.objects.get(stripe_invoice_id=invoice["id"])
        seen.append(("first", event.stripe_event_id, connection.in_atomic_block, payment.tokens))

    add(added, "invoice.paid", first)

    @on_event("invoice.paid", "invoice.payment_failed")
    def second(invoice: dict[str, Any], event: Any) -> None:
        seen.append(("second", event.stripe_event_id, connection.in_atomic_block, 0))

    added.extend([("invoice.paid", second), ("invoice.payment_failed", second)])
    event = paid(world)
    assert post_event(event).json()["outcome"] == "processed"
    assert post_event(event).json()["outcome"] == "duplicate"
    assert seen == [("first", event["id"], True, 1_000), ("second", event["id"], True, 0)]


@pytest.mark.django_db(transaction=True)
def test_a_failing_host_handler_rolls_ours_back_and_the_retry_runs_all_once(world, added):
    calls: list[str] = []

    def flaky(invoice: dict[str, Any], event: Any) -> None:
        calls.append(event.stripe_event_id)
        if len(calls) == 1:
            raise RuntimeError("the host's side failed")

    add(added, "invoice.paid", flaky)
    event = paid(world)
    assert post_event(event).status_code == 500
    assert not TokenEntry.objects.exists()  # our grant went with it
    assert WebhookEvent.objects.get().status == EventStatus.FAILED
    assert post_event(event).json()["outcome"] == "processed"
    assert post_event(event).json()["outcome"] == "duplicate"
    assert calls == [event["id"], event["id"]]
    assert TokenEntry.objects.filter(kind=EntryKind.GRANT).count() == 1


@pytest.mark.django_db
def test_a_host_handler_makes_a_type_handled(added):
    seen: list[str] = []
    add(added, "product.created", lambda obj, event: seen.append(obj["id"]))
    assert "product.created" in handled_event_types()
    product = payloads.product()
    assert post_event(payloads.event("product.created", product)).json()["outcome"] == "processed"
    assert seen == [product["id"]]
    registry.handlers.remove(*added.pop())
    assert "product.created" not in handled_event_types()
    assert post_event(payloads.event("product.created", product)).json()["outcome"] == "ignored"
