"""Reconciliation: subscriptions whose period ended, and events Stripe has that we missed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.utils import timezone

from fiko_billing import stripe_shapes as shapes
from fiko_billing import tokens
from fiko_billing.gateway import (
    StripeDisabled,
    StripeGateway,
    StripeGatewayError,
    StripeResourceMissing,
    StripeUnavailable,
)
from fiko_billing.models import (
    ENTITLED_STATUSES,
    Subscription,
    SubscriptionStatus,
    WebhookEvent,
)
from fiko_billing.services.events import handled_event_types, process_event, store_event
from fiko_billing.services.stripe_data import state_time, subscription_period
from fiko_billing.services.subscription_state import mirror_subscription, record_status

logger = logging.getLogger("fiko_billing.reconcile")

BATCH_SIZE = 500
#: Subscriptions ended per transaction: few enough that the subscribers' ledger
#: locks are held briefly, enough that commits stop being the cost.
WRITE_CHUNK = 100


class CheckAction(StrEnum):
    """What ``check_subscriptions`` did with one overdue subscription."""

    DEACTIVATED = "deactivated"
    ALREADY_ENDED = "already_ended"
    RENEWED = "renewed"
    WOULD_RENEW = "would_renew"
    WOULD_DEACTIVATE = "would_deactivate"
    ERROR = "error"


@dataclass
class Checked:
    stripe_subscription_id: str
    subscriber_pk: Any
    status: str
    period_end: datetime | None
    action: CheckAction | str  # "" until decided
    detail: str = ""


@dataclass
class ReconcileReport:
    rows: list[Checked] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    examined: int = 0

    def add(self, row: Checked, *, keep: bool) -> None:
        self.examined += 1
        self.counts[row.action] = self.counts.get(row.action, 0) + 1
        if keep:
            self.rows.append(row)


def _overdue_batches(cutoff: datetime, batch_size: int) -> Iterator[list[Subscription]]:
    """Overdue subscriptions in primary-key batches, so memory stays bounded."""
    last_pk = 0
    while True:
        batch = list(
            Subscription.objects.filter(
                status__in=ENTITLED_STATUSES, current_period_end__lt=cutoff, pk__gt=last_pk
            )
            .order_by("pk")
            .only("pk", "stripe_subscription_id", "subscriber_id", "status", "current_period_end")[
                :batch_size
            ]
        )
        if not batch:
            return
        yield batch
        last_pk = batch[-1].pk


@dataclass
class _Stripe:
    """The gateway to ask, until it stops answering (then local dates decide)."""

    gateway: StripeGateway | None

    def ask(self, sub: Subscription, row: Checked) -> shapes.Subscription | None:
        """Stripe's copy of ``sub``; ``None`` when unknown or unreachable (said in ``row``).

        Raises ``StripeGatewayError`` for any other failure.
        """
        if self.gateway is None:
            return None
        try:
            return self.gateway.retrieve_subscription(sub.stripe_subscription_id)
        except StripeResourceMissing:
            row.detail = "unknown to Stripe"
        except (StripeUnavailable, StripeDisabled) as exc:
            logger.warning("Stripe unavailable (%s); deciding on local dates", exc)
            self.gateway = None
            row.detail = "Stripe unavailable"
        return None


def _renewed_remotely(remote: shapes.Subscription | None, cutoff: datetime) -> bool:
    """Whether Stripe has the subscription entitled, with a period past the cutoff."""
    if remote is None or remote.get("status") not in ENTITLED_STATUSES:
        return False
    _start, end = subscription_period(remote)
    return end is not None and end > cutoff


@dataclass
class _Ending:
    """An overdue subscription to end, with Stripe's copy when Stripe says it ended."""

    row: Checked
    pk: int
    remote: shapes.Subscription | None


def _decide(
    sub: Subscription, stripe: _Stripe, cutoff: datetime, now: datetime, dry_run: bool
) -> Checked | _Ending:
    """What to do with one overdue subscription: a row decided here, or one to end."""
    row = Checked(
        sub.stripe_subscription_id, sub.subscriber_id, sub.status, sub.current_period_end, ""
    )
    try:
        remote = stripe.ask(sub, row)
    except StripeGatewayError as exc:
        row.action, row.detail = CheckAction.ERROR, str(exc)
        return row
    if _renewed_remotely(remote, cutoff):
        assert remote is not None  # noqa: S101
        row.action = CheckAction.WOULD_RENEW if dry_run else CheckAction.RENEWED
        row.detail = "Stripe has a newer period"
        if not dry_run:
            with transaction.atomic():
                mirror_subscription(remote, state_at=state_time(now), role="anchor")
        return row
    ended_remotely = remote is not None and remote.get("status") not in ENTITLED_STATUSES
    if ended_remotely and remote is not None:
        row.detail = row.detail or f"Stripe says {remote.get('status')}"
    if dry_run:
        row.action = CheckAction.WOULD_DEACTIVATE
        return row
    return _Ending(row, sub.pk, remote if ended_remotely else None)


def _end_all(endings: list[_Ending], now: datetime) -> None:
    """End ``endings`` in transactions of ``WRITE_CHUNK`` subscriptions each.

    Each transaction takes the subscribers' ledger locks and expires their
    due tokens for the whole chunk at once, then locks the subscription rows
    and ends those still entitled (a webhook may have got there first).
    Their signals go out after its commit.
    """
    for first in range(0, len(endings), WRITE_CHUNK):
        chunk = endings[first : first + WRITE_CHUNK]
        with transaction.atomic():
            tokens.lock_and_expire(
                [e.row.subscriber_pk for e in chunk if e.row.subscriber_pk is not None], now=now
            )
            # of=("self",): the subscriber is an outer join since it may be erased (NULL).
            locked = {
                sub.pk: sub
                for sub in Subscription.objects.select_for_update(of=("self",))
                .select_related("subscriber")
                .filter(pk__in=[e.pk for e in chunk])
                .order_by("pk")
            }
            for ending in chunk:
                done = _end(locked[ending.pk], now, ending.remote)
                ending.row.action = CheckAction.DEACTIVATED if done else CheckAction.ALREADY_ENDED


def _end(sub: Subscription, now: datetime, remote: shapes.Subscription | None) -> bool:
    """End one locked subscription; ``False`` when it is no longer entitled."""
    if sub.status not in ENTITLED_STATUSES:
        return False
    if remote is not None:
        mirror_subscription(remote, state_at=state_time(now), role="anchor")
        sub.refresh_from_db()
    if sub.status in ENTITLED_STATUSES:
        record_status(
            sub.stripe_subscription_id,
            status=SubscriptionStatus.CANCELED,
            before=sub.status,
            at=state_time(now),
            ended_at=sub.ended_at or sub.current_period_end or now,
            reason=f"period ended (was {sub.status})",
            lock_held=True,
            locked_row=sub,
        )
    logger.info("subscription %s deactivated: its period ended", sub.stripe_subscription_id)
    return True


def check_subscriptions(
    *,
    gateway: StripeGateway | None,
    grace_days: int,
    dry_run: bool = False,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    keep_rows: int = 1000,
    on_progress: Callable[[int], None] | None = None,
) -> ReconcileReport:
    """Deactivate subscriptions still marked entitled whose period ended before the grace.

    With a ``gateway``, Stripe is asked first: a subscription Stripe renewed
    (a missed ``invoice.paid``) is updated instead; once Stripe stops
    answering, the rest are decided on local dates. Idempotent. Reads
    ``batch_size`` subscriptions at a time, so memory does not grow with
    their number, and ends them ``WRITE_CHUNK`` to a transaction.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=grace_days)
    report = ReconcileReport()
    stripe = _Stripe(gateway)
    for batch in _overdue_batches(cutoff, batch_size):
        decided = [_decide(sub, stripe, cutoff, now, dry_run) for sub in batch]
        _end_all([d for d in decided if isinstance(d, _Ending)], now)
        for item in decided:
            row = item.row if isinstance(item, _Ending) else item
            report.add(row, keep=row.action == CheckAction.ERROR or len(report.rows) < keep_rows)
        if on_progress is not None:
            on_progress(report.examined)
    return report


# ---------------------------------------------------------------------- missed events


@dataclass
class EventSyncReport:
    seen: int = 0
    stored: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def sync_events(
    *,
    gateway: StripeGateway,
    since: datetime,
    dry_run: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> EventSyncReport:
    """Store and process, oldest first, every event Stripe has since ``since`` that we lack."""
    report = EventSyncReport()
    missing: list[dict[str, Any]] = []
    for page in _event_pages(gateway, since):
        report.seen += len(page)
        known = set(
            WebhookEvent.objects.filter(stripe_event_id__in=[e["id"] for e in page]).values_list(
                "stripe_event_id", flat=True
            )
        )
        missing.extend(e for e in page if e["id"] not in known)
        if on_progress is not None:
            on_progress(report.seen)
    missing.sort(key=lambda e: (e.get("created", 0), e["id"]))
    if dry_run:
        report.outcomes["missing"] = len(missing)
        return report
    for data in missing:
        stored = store_event(data)
        report.stored += int(stored.created)
        outcome = process_event(stored.event.pk)
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
        if outcome.is_failure:
            report.failed.append(data["id"])
    return report


#: Stripe's ``GET /v1/events`` takes at most this many names in ``types``.
MAX_TYPES_PER_LIST = 20


def _event_pages(gateway: StripeGateway, since: datetime) -> Iterator[list[dict[str, Any]]]:
    page: list[dict[str, Any]] = []
    types = handled_event_types()
    for first in range(0, len(types), MAX_TYPES_PER_LIST):
        params = {
            "created": {"gte": int(since.timestamp())},
            "types": types[first : first + MAX_TYPES_PER_LIST],
        }
        for event in gateway.list_all("/v1/events", params):
            page.append(event)
            if len(page) == 100:
                yield page
                page = []
    if page:
        yield page
