"""Advancing the clock: everything that falls due happens, in time order.

Due work is a period end (renew, or end a subscription set to cancel), a
draft invoice's automatic finalization (an hour after a renewal's
``invoice.created``), an open invoice's next collection attempt (Smart
Retries) and an open Checkout Session's expiry. Each runs with the clock
pinned to its due time, so an advance over three months produces three
renewals with three months' timestamps.
"""

from __future__ import annotations

from collections.abc import Callable

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import checkout_flow, lifecycle
from fiko_billing.emulator.store import Obj

MAX_STEPS = 10_000

Step = tuple[int, int, Callable[[], None]]


def advance(ctx: Ctx, seconds: float) -> int:
    """Move the clock forward and run what fell due; returns the number of steps run."""
    store = ctx.store
    target = int(store.clock.now() + seconds)
    steps = 0
    while steps < MAX_STEPS:
        step = _next_due(ctx, target)
        if step is None:
            break
        due, _, action = step
        with store.clock.pinned(max(due, store.clock.now())):
            action()
            ctx.run_deferred()
        steps += 1
    store.clock.advance(seconds)
    return steps


def run_due(ctx: Ctx) -> int:
    """Run what is already due at the current time (after a restart, say)."""
    return advance(ctx, 0)


def _next_due(ctx: Ctx, target: int) -> Step | None:
    candidates: list[Step] = []
    store = ctx.store
    for order, sub in enumerate(store.iter("subscription")):
        if sub["status"] not in lifecycle.LIVE or sub["status"] == "incomplete":
            continue
        end = lifecycle.period_of(sub)[1]
        if sub["cancel_at"] is not None and sub["cancel_at"] <= end:
            candidates.append((sub["cancel_at"], order, _ender(ctx, sub)))
        else:
            candidates.append((end, order, _renewer(ctx, sub)))
    for order, invoice in enumerate(store.iter("invoice")):
        if (
            invoice["status"] == "draft"
            and invoice["auto_advance"]
            and invoice["automatically_finalizes_at"] is not None
        ):
            candidates.append(
                (invoice["automatically_finalizes_at"], order, _finalizer(ctx, invoice))
            )
        elif invoice["status"] == "open" and invoice["next_payment_attempt"] is not None:
            candidates.append((invoice["next_payment_attempt"], order, _retrier(ctx, invoice)))
    for order, session in enumerate(store.iter("checkout.session")):
        if session["status"] == "open":
            candidates.append((session["expires_at"], order, _expirer(ctx, session)))
    due = [c for c in candidates if c[0] <= target]
    if not due:
        return None
    return min(due, key=lambda c: (c[0], c[1]))


def _renewer(ctx: Ctx, sub: Obj) -> Callable[[], None]:
    def renew() -> None:
        lifecycle.renew(ctx, sub)

    return renew


def _ender(ctx: Ctx, sub: Obj) -> Callable[[], None]:
    return lambda: lifecycle.end_of_period(ctx, sub)


def _finalizer(ctx: Ctx, invoice: Obj) -> Callable[[], None]:
    return lambda: lifecycle.finalize_and_collect(ctx, invoice)


def _retrier(ctx: Ctx, invoice: Obj) -> Callable[[], None]:
    return lambda: lifecycle.retry(ctx, invoice)


def _expirer(ctx: Ctx, session: Obj) -> Callable[[], None]:
    return lambda: checkout_flow.expire(ctx, session)
