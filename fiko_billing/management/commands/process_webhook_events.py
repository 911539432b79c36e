"""(Re)process stored webhook events that are pending or failed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from fiko_billing.management.progress import Progress, format_table
from fiko_billing.management.stripe_command import StripeCommand
from fiko_billing.models import EventStatus, WebhookEvent
from fiko_billing.webhooks.intake import process_event


class Command(StripeCommand):
    help = "Process stored Stripe events that are pending (and, with --failed, those that failed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--failed", action="store_true", help="Retry failed events too.")
        parser.add_argument("--event", metavar="ID", help="Process this one event (evt_...).")
        parser.add_argument("--limit", type=int, default=None, help="At most this many events.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be 1 or more.")
        if options["event"]:
            events = WebhookEvent.objects.filter(stripe_event_id=options["event"])
            if not events.exists():
                raise CommandError(f"No stored event {options['event']!r}.")
        else:
            statuses = [EventStatus.PENDING] + ([EventStatus.FAILED] if options["failed"] else [])
            events = WebhookEvent.objects.filter(status__in=statuses)
        pks = list(events.order_by("stripe_created", "pk").values_list("pk", flat=True))
        if options["limit"] is not None:
            pks = pks[: options["limit"]]
        rows = []
        counts: dict[str, int] = {}
        with Progress(self.stdout, label="events processed") as progress:
            for done, pk in enumerate(pks, 1):
                outcome = process_event(pk)
                counts[outcome] = counts.get(outcome, 0) + 1
                event = WebhookEvent.objects.only(
                    "stripe_event_id", "type", "attempts", "last_error"
                ).get(pk=pk)
                rows.append(
                    (
                        event.stripe_event_id,
                        event.type,
                        outcome,
                        event.attempts,
                        event.last_error[:60],
                    )
                )
                progress.update(done, len(pks))
        if rows:
            self.stdout.write(
                format_table(["event", "type", "outcome", "attempts", "error"], rows)
            )
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to do"
        self.stdout.write(f"{len(pks)} event(s): {summary}.")
        if counts.get("failed"):
            raise CommandError(f"{counts['failed']} event(s) failed; see the error column.")
