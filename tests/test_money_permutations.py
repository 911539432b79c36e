"""Every delivery order of a lifecycle's events ends in the state the in-order delivery ends in.

Each lifecycle is played once on the emulator (the real Stripe shapes, line
order and event sequence, captured instead of delivered). Its events are then
delivered to our intake in every order, or a seeded sample of ``ORDERS``
orders when there are more, each with a few events delivered twice, and the
final subscription, payments, refunds, disputes, ledger entries and balance
must equal those of the in-order delivery, with no event left waiting or
failed. Each order runs in a savepoint that is rolled back.

Heavy (``pytest --heavy``) and on PostgreSQL: the CI leg runs it there.
"""

from __future__ import annotations

import itertools
import math
import os
import random
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from fiko_billing import tokens
from fiko_billing.models import (
    Dispute,
    EventStatus,
    Payment,
    Refund,
    Subscription,
    TokenEntry,
    WebhookEvent,
)
from fiko_billing.testing.hosted import CARD_FAILS_AT_RENEWAL, CARD_SUCCEEDS
from tests.money_world import (
    DAY,
    HOUR,
    RENEWAL_1,
    RENEWAL_2,
    Delivery,
    MoneyWorld,
    at_time,
    rolled_back,
    store_all,
)

#: Orders sampled per lifecycle (at least 500; fewer only to debug by hand).
ORDERS = int(os.environ.get("FIKO_PERMUTATION_ORDERS", "500"))
SEED = 20261206
DUPLICATES = 2


# ---------------------------------------------------------------------- lifecycles


def renew_fail_recover(world: MoneyWorld) -> None:
    """Subscribe, renew, the card fails at the next renewal, a new card pays in the same second."""
    world.checkout(world.monthly)
    world.advance_to(RENEWAL_1 + 2 * HOUR)
    world.update_card(CARD_FAILS_AT_RENEWAL)
    world.advance_to(RENEWAL_2 + HOUR)  # the renewal is charged and fails
    world.update_card(CARD_SUCCEEDS)  # in that very second


def _change(behavior: str, target: str) -> Callable[[MoneyWorld], None]:
    def story(world: MoneyWorld) -> None:
        first = world.premium if target == "monthly" else world.monthly
        world.checkout(first)
        world.advance(days=10)
        world.change_plan(getattr(world, target), proration_behavior=behavior)
        world.advance_to(RENEWAL_1 + 2 * HOUR)  # the renewal bills what prorations left

    story.__doc__ = f"Subscribe, change to {target} ({behavior}), renew."
    return story


def cancel_then_resume(world: MoneyWorld) -> None:
    """Cancel at the period end, then resume it in the same second."""
    world.checkout(world.monthly)
    world.advance(days=5)
    world.cancel_at_period_end()
    world.resume()


def cancel_now(world: MoneyWorld) -> None:
    world.checkout(world.monthly)
    world.advance(days=5)
    world.cancel_now()


def _refunds(what: str) -> Callable[[MoneyWorld], None]:
    def story(world: MoneyWorld) -> None:
        if what == "package":
            world.checkout(world.package)
            intent = world.find("checkout.session", mode="payment")["payment_intent"]
            amount = 1_000
        else:
            world.checkout(world.monthly)
            invoice = world.subscription()["latest_invoice"]
            if what == "renewal":
                world.advance_to(RENEWAL_1 + 2 * HOUR)
                invoice = world.subscription()["latest_invoice"]
            intent = world.intent_of(invoice)
            amount = 500
        world.advance(days=2)
        world.refund(intent, amount // 5)
        world.advance(days=1)
        world.refund(intent)

    story.__doc__ = f"A partial refund of the {what}, then the rest."
    return story


def _dispute(won: bool, what: str) -> Callable[[MoneyWorld], None]:
    def story(world: MoneyWorld) -> None:
        if what == "package":
            world.checkout(world.package)
            intent = world.find("checkout.session", mode="payment")["payment_intent"]
        else:
            world.checkout(world.monthly)
            intent = world.intent_of(world.subscription()["latest_invoice"])
        world.advance(days=3)
        dispute = world.open_dispute(intent)
        world.advance(days=10)
        world.close_dispute(dispute["id"], won=won)

    story.__doc__ = f"A dispute of the {what}, {'won' if won else 'lost'}."
    return story


LIFECYCLES: dict[str, Callable[[MoneyWorld], None]] = {
    "renew_fail_recover": renew_fail_recover,
    "upgrade_none": _change("none", "premium"),
    "upgrade_create_prorations": _change("create_prorations", "premium"),
    "upgrade_always_invoice": _change("always_invoice", "premium"),
    "downgrade_always_invoice": _change("always_invoice", "monthly"),
    "monthly_to_yearly": _change("always_invoice", "yearly"),
    "cancel_then_resume": cancel_then_resume,
    "cancel_now": cancel_now,
    "refund_first_payment": _refunds("first_payment"),
    "refund_renewal": _refunds("renewal"),
    "refund_package": _refunds("package"),
    "dispute_won_package": _dispute(True, "package"),
    "dispute_lost_first_payment": _dispute(False, "first_payment"),
}


# ---------------------------------------------------------------------- the final state


def _reference(entry: TokenEntry) -> str | None:
    # Ledger-made references carry row ids; name the credit they act on instead.
    if entry.kind == "expiry" and entry.grant is not None:
        return f"expiry of {entry.grant.reference}"
    return entry.reference


def final_state(subscriber: Any) -> dict[str, Any]:
    subscriptions = sorted(
        (
            s.stripe_subscription_id,
            s.status,
            s.product.name if s.product else None,
            s.price_id,
            s.quantity,
            s.current_period_start,
            s.current_period_end,
            s.cancel_at_period_end,
            s.cancel_at,
            s.canceled_at,
            s.ended_at,
        )
        for s in Subscription.objects.select_related("product")
    )
    payments = sorted(
        (
            p.kind,
            p.status,
            p.amount,
            p.amount_refunded,
            p.tokens,
            p.product.name if p.product else None,
            p.stripe_subscription_id,
            p.subscription.stripe_subscription_id if p.subscription else None,
            p.stripe_checkout_session_id,
            p.stripe_invoice_id,
            p.stripe_payment_intent_id,
            p.stripe_charge_id,
            p.period_start,
            p.period_end,
            p.credited_at,
            p.fulfilled_at is not None,
        )
        for p in Payment.objects.select_related("product", "subscription")
    )
    refunds = sorted(
        (r.stripe_refund_id, r.payment.stripe_payment_intent_id, r.amount, r.status, r.tokens)
        for r in Refund.objects.select_related("payment")
    )
    disputes = sorted(
        (d.stripe_dispute_id, d.status, d.amount, d.tokens, d.funds_withdrawn, d.funds_reinstated)
        for d in Dispute.objects.all()
    )
    entries = sorted(
        (
            e.kind,
            e.amount,
            _reference(e) or "",
            e.grant.reference if e.grant is not None and e.grant.reference else "",
            e.remaining,
        )
        for e in TokenEntry.objects.select_related("grant")
    )
    unfinished = sorted(
        (e.type, e.status, e.waiting_for)
        for e in WebhookEvent.objects.exclude(
            status__in=[EventStatus.PROCESSED, EventStatus.IGNORED]
        )
    )
    return {
        "subscriptions": subscriptions,
        "payments": payments,
        "refunds": refunds,
        "disputes": disputes,
        "entries": entries,
        "balance": tokens.balance(subscriber),
        "unfinished events": unfinished,
    }


def play(
    world: MoneyWorld, order: list[dict[str, Any]], end: int, stored: dict[str, int]
) -> dict[str, Any]:
    delivery = Delivery(stored)
    for event in order:
        delivery(event)
    with at_time(end):
        tokens.expire_due(now=timezone.now())
        return final_state(world.subscriber)


def orders(events: list[dict[str, Any]], rng: random.Random) -> list[list[dict[str, Any]]]:
    """Every order of ``events``, or ``ORDERS`` distinct random ones; each with duplicates."""
    count = len(events)
    if math.factorial(count) <= ORDERS:
        chosen = [list(p) for p in itertools.permutations(events)]
    else:
        seen: set[tuple[str, ...]] = {tuple(e["id"] for e in events)}
        chosen = []
        while len(chosen) < ORDERS:
            order = events[:]
            rng.shuffle(order)
            key = tuple(e["id"] for e in order)
            if key not in seen:
                seen.add(key)
                chosen.append(order)
    for order in chosen:
        for _ in range(DUPLICATES):
            event = rng.choice(order)
            position = rng.randint(order.index(event) + 1, len(order))
            order.insert(position, event)
    return chosen


# ---------------------------------------------------------------------- the test


@pytest.mark.heavy
@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("lifecycle", sorted(LIFECYCLES))
def test_every_delivery_order_ends_in_the_in_order_state(lifecycle, settings, record_property):
    world = MoneyWorld(settings)
    # An order may hold an event back for weeks of Stripe time while a later
    # one waits for it; the wait limit has its own tests.
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "WEBHOOK_MAX_WAIT_DAYS": 365}
    try:
        LIFECYCLES[lifecycle](world)
        events = world.events()
        end = world.now() + DAY
        # Storing is idempotent and order-free; what is played below is processing.
        stored = store_all(events)
        with rolled_back():
            expected = play(world, events, end, stored)
        assert expected["unfinished events"] == []
        rng = random.Random(f"{SEED}:{lifecycle}")
        played = orders(events, rng)
        divergent = 0
        for order in played:
            with rolled_back():
                state = play(world, order, end, stored)
            if state != expected:
                divergent += 1
                if divergent == 1:
                    first_divergence = ([e["type"] for e in order], state)
        record_property("events", len(events))
        record_property("orders", len(played))
        record_property("divergences", divergent)
        print(f"{lifecycle}: {len(events)} events, {len(played)} orders, {divergent} divergent")
        if divergent:
            order_types, state = first_divergence
            diff = {k: (state[k], expected[k]) for k in expected if state[k] != expected[k]}
            pytest.fail(
                f"{divergent} of {len(played)} orders diverged; first: {order_types}\n{diff}"
            )
    finally:
        world.close()
