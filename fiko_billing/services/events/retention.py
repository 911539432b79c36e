"""Stored events are the log of what Stripe told us; after a retention period they go.

Only events that are done go (processed, or of a type nobody handles); one
pending, failed or set aside still needs someone and is kept whatever its age.
Age counts from the event's creation in Stripe: Stripe retries a delivery for
three days and lists events for 30, so once an event is older than the
retention period (at least 31 days) nothing can bring it back to be run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from fiko_billing.conf import billing_settings
from fiko_billing.models import EventStatus, WebhookEvent

DONE = (EventStatus.PROCESSED, EventStatus.IGNORED)
BATCH_SIZE = 1000


@dataclass
class PruneReport:
    cutoff: datetime
    #: Events deleted (or, in a dry run, that would be) per status.
    pruned: dict[str, int] = field(default_factory=dict)
    #: Events older than the cutoff kept because they still need attention, per status.
    kept: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.pruned.values())


def cutoff(days: int | None = None) -> datetime:
    """Events created in Stripe before this are old enough to go."""
    return timezone.now() - timedelta(days=days or billing_settings.WEBHOOK_EVENT_RETENTION_DAYS)


def prune_events(
    *,
    before: datetime,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[int, int], None] | None = None,
) -> PruneReport:
    """Delete the done events created before ``before``, in batches of one transaction each."""
    report = PruneReport(before)
    old = WebhookEvent.objects.filter(stripe_created__lt=before)
    for row in old.values("status").annotate(n=Count("pk")).order_by("status"):
        counts = report.pruned if row["status"] in DONE else report.kept
        counts[row["status"]] = row["n"]
    if dry_run:
        return report
    total, done, last_pk = report.total, 0, 0
    while True:
        with transaction.atomic():
            pks = list(
                old.filter(status__in=DONE, pk__gt=last_pk)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not pks:
                break
            WebhookEvent.objects.filter(pk__in=pks).delete()
        done += len(pks)
        last_pk = pks[-1]
        if on_progress is not None:
            on_progress(done, total)
    return report
