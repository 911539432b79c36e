"""Replay the events Stripe has but we never received (recovery after a webhook outage)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from fiko_billing.gateway import StripeGatewayError, get_gateway
from fiko_billing.management.progress import Progress
from fiko_billing.management.stripe_command import StripeCommand
from fiko_billing.services.reconcile import sync_events

_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str) -> timedelta:
    """``30m``, ``12h`` or ``3d``; Stripe keeps events for 30 days."""
    match = re.fullmatch(r"(\d+)([mhd])", value.strip())
    if not match:
        raise CommandError(f"--since must look like 30m, 12h or 3d, not {value!r}.")
    delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if delta > timedelta(days=30):
        raise CommandError("--since can reach back 30 days at most (Stripe keeps events 30 days).")
    return delta


class Command(StripeCommand):
    help = "List Stripe's events since a time and store and process, oldest first, those we lack."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since", default="3d", help="How far back: 30m, 12h, 3d (default 3d)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count the missing events only."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = timezone.now() - parse_since(options["since"])
        try:
            gateway = get_gateway()
            with Progress(self.stdout, label="Stripe events listed") as progress:
                report = sync_events(
                    gateway=gateway,
                    since=since,
                    dry_run=options["dry_run"],
                    on_progress=lambda n: progress.update(n),
                )
        except StripeGatewayError as exc:
            raise CommandError(f"Stripe failed: {exc} (request {exc.request_id or '-'})") from exc
        if options["dry_run"]:
            self.stdout.write(
                f"Dry run: {report.seen} event(s) at Stripe since {since:%Y-%m-%d %H:%M} UTC, "
                f"{report.outcomes.get('missing', 0)} never received."
            )
            return
        outcomes = (
            ", ".join(f"{n} {k}" for k, n in sorted(report.outcomes.items())) or "none missing"
        )
        self.stdout.write(
            f"{report.seen} event(s) at Stripe since {since:%Y-%m-%d %H:%M} UTC; "
            f"{report.stored} stored: {outcomes}."
        )
        if report.failed:
            raise CommandError(
                f"{len(report.failed)} event(s) failed: {', '.join(report.failed[:10])}"
            )
