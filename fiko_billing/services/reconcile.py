"""Reconciliation: subscriptions whose period ended, and events Stripe has that we missed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

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
from fiko_billing.services.stripe_data import state_time
from fiko_billing.services.subscription_state import mirror_subscription, record_status
from fiko_billing.subscribers import Subscriber

logger = logging.getLogger("fiko_billing.reconcile")

BATCH_SIZE = 500


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


def _deactivate(pk: int, now: datetime, remote: shapes.Subscription | None = None) -> bool:
    """End a subscription whose period is over; ``remote`` is Stripe's word on it, if any.

    Returns whether this call ended it (``False`` when a webhook got there first).
    """
    with transaction.atomic():
        row = Subscription.objects.select_related("subscriber").get(pk=pk)
        if row.subscriber_id is not None:
            tokens.lock_account(cast(Subscriber, row.subscriber))
        # of=("self",): the subscriber is an outer join since it may be erased (NULL).
        row = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("subscriber")
            .get(pk=pk)
        )
        if row.status not in ENTITLED_STATUSES:
            return False
        if remote is not None:
            mirror_subscription(remote, state_at=state_time(now), role="anchor")
            row.refresh_from_db()
        if row.status in ENTITLED_STATUSES:
            record_status(
                row.stripe_subscription_id,
                status=SubscriptionStatus.CANCELED,
                before=row.status,
                at=state_time(now),
                subscriber=row.subscriber,
                ended_at=row.ended_at or row.current_period_end or now,
                reason=f"period ended (was {row.status})",
            )
        if row.subscriber_id is not None:
            tokens.expire_due(now=now, subscriber=row.subscriber)
    logger.info("subscription %s deactivated: its period ended", row.stripe_subscription_id)
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
    answering, the rest are decided on local dates. Idempotent.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=grace_days)
    report = ReconcileReport()
    for batch in _overdue_batches(cutoff, batch_size):
        for sub in batch:
            row = Checked(
                sub.stripe_subscription_id,
                sub.subscriber_id,
                sub.status,
                sub.current_period_end,
                "",
            )
            remote = None
            if gateway is not None:
                try:
                    remote = gateway.retrieve_subscription(sub.stripe_subscription_id)
                except StripeResourceMissing:
                    row.detail = "unknown to Stripe"
                except (StripeUnavailable, StripeDisabled) as exc:
                    logger.warning("Stripe unavailable (%s); deciding on local dates", exc)
                    gateway = None
                    row.detail = "Stripe unavailable"
                except StripeGatewayError as exc:
                    row.action, row.detail = CheckAction.ERROR, str(exc)
                    report.add(row, keep=True)
                    continue
            if remote is not None and remote.get("status") in ENTITLED_STATUSES:
                remote_end = (remote.get("items") or {}).get("data") or []
                ends = [i.get("current_period_end") or 0 for i in remote_end]
                if ends and max(ends) > cutoff.timestamp():
                    row.action = CheckAction.WOULD_RENEW if dry_run else CheckAction.RENEWED
                    row.detail = "Stripe has a newer period"
                    if not dry_run:
                        with transaction.atomic():
                            mirror_subscription(remote, state_at=state_time(now), role="anchor")
                    report.add(row, keep=len(report.rows) < keep_rows)
                    continue
            if dry_run:
                row.action = CheckAction.WOULD_DEACTIVATE
                if remote is not None and remote.get("status") not in ENTITLED_STATUSES:
                    row.detail = row.detail or f"Stripe says {remote.get('status')}"
            else:
                ended_remotely = (
                    remote is not None and remote.get("status") not in ENTITLED_STATUSES
                )
                done = _deactivate(sub.pk, now, remote if ended_remotely else None)
                row.action = CheckAction.DEACTIVATED if done else CheckAction.ALREADY_ENDED
                if ended_remotely and remote is not None:
                    row.detail = row.detail or f"Stripe says {remote.get('status')}"
            report.add(row, keep=len(report.rows) < keep_rows)
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
