"""Deactivate subscriptions whose period ended (the safety net for missed webhooks)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from fiko_billing.conf import billing_settings
from fiko_billing.gateway import StripeDisabled, get_gateway
from fiko_billing.management.progress import Progress, format_table
from fiko_billing.management.stripe_command import StripeCommand
from fiko_billing.services.reconcile import check_subscriptions


class Command(StripeCommand):
    help = (
        "Find subscriptions still marked active, trialing or past_due whose period ended "
        "more than the grace period ago; confirm with Stripe when it answers; deactivate "
        "the ended ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Report, change nothing.")
        parser.add_argument(
            "--grace-days",
            type=int,
            default=None,
            help="Days after the period end before deactivating (default: GRACE_PERIOD_DAYS).",
        )
        parser.add_argument(
            "--no-stripe",
            action="store_true",
            help="Decide on local dates only, without asking Stripe.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Subscriptions loaded per batch (bounds memory).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        grace = options["grace_days"]
        if grace is None:
            grace = billing_settings.GRACE_PERIOD_DAYS
        if grace < 0:
            raise CommandError("--grace-days must be zero or more.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more.")
        gateway = None
        if not options["no_stripe"]:
            try:
                gateway = get_gateway()
            except StripeDisabled as exc:
                self.stderr.write(f"{exc} Deciding on local dates only.")
        with Progress(self.stdout, label="subscriptions checked") as progress:
            report = check_subscriptions(
                gateway=gateway,
                grace_days=grace,
                dry_run=options["dry_run"],
                batch_size=options["batch_size"],
                on_progress=lambda done: progress.update(done),
            )
        if report.rows:
            self.stdout.write(
                format_table(
                    ["subscription", "subscriber", "status", "period end", "action", "detail"],
                    [
                        (
                            r.stripe_subscription_id,
                            r.subscriber_pk,
                            r.status,
                            r.period_end.isoformat() if r.period_end else "-",
                            r.action,
                            r.detail,
                        )
                        for r in report.rows
                    ],
                )
            )
            if report.examined > len(report.rows):
                self.stdout.write(f"(first {len(report.rows)} of {report.examined} shown)")
        counts = ", ".join(f"{n} {action}" for action, n in sorted(report.counts.items()))
        prefix = "Dry run: " if options["dry_run"] else ""
        self.stdout.write(
            f"{prefix}{report.examined} overdue subscription(s) examined"
            + (f": {counts}." if counts else ".")
        )
        if report.counts.get("error"):
            raise CommandError(f"{report.counts['error']} subscription(s) could not be checked.")
