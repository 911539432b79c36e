"""One checkout completed by every path at once (PostgreSQL row locks): credited once.

``checkout.session.completed`` (delivered twice), ``async_payment_succeeded``
and the success page's status poll race for one session. Fulfilment finds the
subscriber's ledger lock through the payment and reads the payment once under
it; a first purchase also makes the ledger account on the way, which every
racer tries at once. None may deadlock, fail, or credit twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from fiko_billing import signals, tokens
from fiko_billing.models import (
    EntryKind,
    Payment,
    PaymentStatus,
    TokenAccount,
    TokenEntry,
    WebhookEvent,
)
from fiko_billing.testing import payloads
from fiko_billing.testing.conformance.object_checks import check_event
from fiko_billing.testing.webhooks import post_event
from tests.factories import CustomerFactory, PackagePriceFactory, PaymentFactory
from tests.resolvers import bearer, use_bearer_resolver
from tests.test_tokens_concurrency import run_together

ROUNDS = 12


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_webhooks_and_the_status_poll_racing_credit_once(stripe_stub, settings):
    use_bearer_resolver(settings)
    answers: list[tuple[str, Any]] = []
    lock = threading.Lock()
    succeeded_payments: list[int] = []

    def count(sender: Any, payment: Payment, **kwargs: Any) -> None:
        with lock:
            succeeded_payments.append(payment.pk)

    signals.payment_succeeded.connect(count, weak=False)
    try:
        race(answers, stripe_stub)
    finally:
        signals.payment_succeeded.disconnect(count)

    assert len(answers) == 4 * ROUNDS
    for n in range(ROUNDS):
        completions = sorted(a[1]["outcome"] for k, a in answers if k == f"evt_c{n}")
        assert completions == ["duplicate", "processed"], n
        assert [a[1]["outcome"] for k, a in answers if k == f"evt_a{n}"] == ["processed"]
        polls = [a for k, a in answers if k == f"cs_r{n}"]
        assert [(code, body["fulfilled"]) for code, body in polls] == [(200, True)], polls
        entries = TokenEntry.objects.filter(reference=f"checkout:cs_r{n}")
        assert [(e.kind, e.amount) for e in entries] == [(EntryKind.PURCHASE, 1_000)], n
        payment = Payment.objects.get(stripe_checkout_session_id=f"cs_r{n}")
        assert payment.status == PaymentStatus.SUCCEEDED
        assert payment.fulfilled_at is not None
        subscriber = payment.subscriber
        assert TokenAccount.objects.filter(subscriber=subscriber).count() == 1
        assert tokens.balance(subscriber) == 1_000
        assert succeeded_payments.count(payment.pk) == 1, "payment_succeeded once"
    assert sum(WebhookEvent.objects.values_list("failures", flat=True)) == 0
    assert WebhookEvent.objects.count() == 2 * ROUNDS


def race(answers: list[tuple[str, Any]], stripe_stub: Any) -> None:
    """``ROUNDS`` sessions, each completed by four racers at once."""
    package = PackagePriceFactory(package__tokens=1_000).package
    for n in range(ROUNDS):
        customer = CustomerFactory(stripe_customer_id=f"cus_r{n}")
        subscriber = customer.subscriber
        if n % 2:  # every other round the subscriber has a ledger account already
            with transaction.atomic():
                tokens.lock_account(subscriber)
        session_id = f"cs_r{n}"
        PaymentFactory(
            subscriber=subscriber,
            package=package,
            amount=1_000,
            tokens=1_000,
            stripe_checkout_session_id=session_id,
        )
        session = payloads.checkout_session(
            id=session_id,
            mode="payment",
            status="complete",
            payment_status="paid",
            customer_id=customer.stripe_customer_id,
            amount_total=1_000,
            payment_intent=f"pi_r{n}",
        )
        stripe_stub.on("GET", f"/v1/checkout/sessions/{session_id}", session)
        completed = payloads.event("checkout.session.completed", session, id=f"evt_c{n}")
        succeeded = payloads.event(
            "checkout.session.async_payment_succeeded", session, id=f"evt_a{n}"
        )
        if n == 0:
            # The SDK's schemas that ``post_event`` checks events against are compiled
            # on first use; compiling them in several threads at once trips CPython.
            assert check_event(completed) == []

        def deliver(event: dict[str, Any]) -> tuple[str, Any]:
            response = post_event(event)
            return event["id"], (response.status_code, response.json())

        def poll(subscriber: Any = subscriber, session_id: str = session_id) -> tuple[str, Any]:
            client = Client(HTTP_AUTHORIZATION=bearer(subscriber))
            response = client.get(f"/billing/stripe/checkout-session/{session_id}/")
            return session_id, (response.status_code, response.json())

        racers: list[Callable[[], tuple[str, Any]]] = [
            partial(deliver, completed),
            partial(deliver, completed),
            partial(deliver, succeeded),
            poll,
        ]
        together = run_together(lambda i, racers=racers: racers[i](), threads=len(racers))
        assert [outcome.errors for outcome in together] == [[]] * len(racers)
        answers.extend(outcome.results[0] for outcome in together)
