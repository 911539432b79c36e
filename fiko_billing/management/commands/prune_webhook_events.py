"""Delete stored webhook events older than the retention period that need nothing more."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from fiko_billing.conf import billing_settings
from fiko_billing.management.progress import Progress, format_table
from fiko_billing.services.events.retention import cutoff, prune_events

MIN_DAYS = 31


class Command(BaseCommand):
    help = (
        "Delete processed and ignored webhook events created in Stripe more than "
        "WEBHOOK_EVENT_RETENTION_DAYS days ago (--days to override). Pending, failed and "
        "set-aside events are kept whatever their age."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep this many days instead of WEBHOOK_EVENT_RETENTION_DAYS (31 or more).",
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Events deleted per transaction."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] or billing_settings.WEBHOOK_EVENT_RETENTION_DAYS
        if days < MIN_DAYS:
            # Stripe lists events for 30 days: sync_stripe_events would fetch a
            # younger pruned event again and process it a second time.
            raise CommandError(f"--days must be {MIN_DAYS} or more (Stripe lists events 30 days).")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more.")
        before = cutoff(days)
        try:
            with Progress(self.stdout, label="events deleted") as progress:
                report = prune_events(
                    before=before,
                    dry_run=options["dry_run"],
                    batch_size=options["batch_size"],
                    on_progress=progress.update,
                )
        except DatabaseError as exc:
            raise CommandError(f"Pruning stopped: {exc.__class__.__name__}: {exc}") from exc
        statuses = sorted(set(report.pruned) | set(report.kept))
        if statuses:
            rows = [(s, report.pruned.get(s, 0), report.kept.get(s, 0)) for s in statuses]
            pruned = "would delete" if options["dry_run"] else "deleted"
            self.stdout.write(format_table(["status", pruned, "kept (needs attention)"], rows))
        verb = "would be deleted" if options["dry_run"] else "deleted"
        self.stdout.write(
            f"{report.total} event(s) created before {before:%Y-%m-%d %H:%M} UTC {verb}; "
            f"{sum(report.kept.values())} older one(s) kept."
        )
