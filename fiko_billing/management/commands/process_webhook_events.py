"""(Re)process stored webhook events: pending (and waiting) ones, failed ones, set-aside ones."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db.models import QuerySet

from fiko_billing.management.progress import Progress, format_table
from fiko_billing.management.stripe_command import StripeCommand
from fiko_billing.models import EventStatus, WebhookEvent
from fiko_billing.services.events import Outcome, process_event


class Command(StripeCommand):
    help = (
        "Process stored Stripe events that are pending, including those waiting for a payment "
        "(with --failed, those that failed too; with --dead, those set aside). --list shows "
        "the events that need attention without processing them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--failed", action="store_true", help="Retry failed events too.")
        parser.add_argument(
            "--dead",
            action="store_true",
            help="Replay events set aside after too many failures or too long a wait.",
        )
        parser.add_argument("--event", metavar="ID", help="Process this one event (evt_...).")
        parser.add_argument("--limit", type=int, default=None, help="At most this many events.")
        parser.add_argument(
            "--list",
            action="store_true",
            help="List waiting, failed and set-aside events; process nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be 1 or more.")
        if options["list"]:
            self._list(options["limit"])
            return
        replay = bool(options["dead"])
        if options["event"]:
            events = WebhookEvent.objects.filter(stripe_event_id=options["event"])
            if not events.exists():
                raise CommandError(f"No stored event {options['event']!r}.")
            replay = True
        else:
            statuses = [EventStatus.PENDING]
            statuses += [EventStatus.FAILED] if options["failed"] else []
            statuses += [EventStatus.DEAD] if options["dead"] else []
            events = WebhookEvent.objects.filter(status__in=statuses)
        pks = list(events.order_by("stripe_created", "pk").values_list("pk", flat=True))
        if options["limit"] is not None:
            pks = pks[: options["limit"]]
        rows = []
        counts: dict[str, int] = {}
        with Progress(self.stdout, label="events processed") as progress:
            for done, pk in enumerate(pks, 1):
                outcome = process_event(pk, replay=replay)
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
        failed = counts.get(Outcome.FAILED, 0) + counts.get(Outcome.DEAD, 0)
        if failed:
            raise CommandError(f"{failed} event(s) failed; see the error column.")

    def _list(self, limit: int | None) -> None:
        events: QuerySet[WebhookEvent] = WebhookEvent.objects.exclude(
            status__in=[EventStatus.PROCESSED, EventStatus.IGNORED]
        ).order_by("stripe_created", "pk")
        if limit is not None:
            events = events[:limit]
        rows = [
            (
                event.stripe_event_id,
                event.type,
                Outcome.WAITING
                if event.status == EventStatus.PENDING and event.waiting_for
                else event.status,
                event.attempts,
                event.failures,
                (event.waiting_for or event.last_error)[:60],
            )
            for event in events
        ]
        if rows:
            self.stdout.write(
                format_table(["event", "type", "state", "attempts", "failures", "detail"], rows)
            )
        self.stdout.write(f"{len(rows)} event(s) need attention.")
