"""How ``check_subscription_status`` ended subscriptions before it batched them.

Kept for ``benchmarks.check_subscription_status``, which times it beside the
command's service on the same rows, so the speed-up is measured in one run.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta


def before_equivalent(now: datetime, expected: int, *, grace_days: int) -> float:
    """The same work done the way the command did it before batching; its wall time.

    Each overdue subscription in a transaction of its own: read it, take its
    subscriber's ledger lock, lock the row, end it through ``record_status``
    (which reads and locks it again), then ``tokens.expire_due`` for the
    subscriber (in a savepoint of its own).
    """
    from django.db import transaction

    from fiko_billing import tokens
    from fiko_billing.models import ENTITLED_STATUSES, Subscription, SubscriptionStatus
    from fiko_billing.services.stripe_data import state_time
    from fiko_billing.services.subscription_state import record_status

    cutoff = now - timedelta(days=grace_days)
    started = time.perf_counter()
    pks = Subscription.objects.filter(
        status__in=ENTITLED_STATUSES, current_period_end__lt=cutoff
    ).values_list("pk", flat=True)
    ended = 0
    for pk in list(pks):
        with transaction.atomic():
            row = Subscription.objects.select_related("subscriber").get(pk=pk)
            assert row.subscriber is not None  # every row the benchmark makes has one
            tokens.lock_account(row.subscriber)
            row = (
                Subscription.objects.select_for_update(of=("self",))
                .select_related("subscriber")
                .get(pk=pk)
            )
            record_status(
                row.stripe_subscription_id,
                status=SubscriptionStatus.CANCELED,
                before=row.status,
                at=state_time(now),
                subscriber=row.subscriber,
                ended_at=row.ended_at or row.current_period_end or now,
                reason=f"period ended (was {row.status})",
            )
            tokens.expire_due(now=now, subscriber=row.subscriber)
        ended += 1
    if ended != expected:
        raise RuntimeError(f"expected {expected} deactivated, got {ended}")
    return time.perf_counter() - started
