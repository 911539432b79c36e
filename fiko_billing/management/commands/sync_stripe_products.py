"""``manage.py sync_stripe_products``: push plans, token packages and prices to Stripe."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from fiko_billing.gateway import StripeGatewayError
from fiko_billing.management.progress import Progress, format_table
from fiko_billing.management.stripe_command import StripeCommand
from fiko_billing.services.catalog_sync import CatalogueSyncFailed, SyncReport, sync_catalogue

HEADERS = ("Item", "Currency", "Action", "Stripe id", "Detail")


class Command(StripeCommand):
    help = (
        "Create, update or archive Stripe products and prices so they match the local "
        "plans, token packages and prices. Safe to run again: unchanged objects are not "
        "written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would change; write nothing to Stripe or the database.",
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        with Progress(self.stdout, label="Syncing catalogue") as progress:
            try:
                report = sync_catalogue(dry_run=dry_run, on_progress=progress.update)
            except CatalogueSyncFailed as exc:
                failed: CatalogueSyncFailed | None = exc
                report = exc.report
            except StripeGatewayError as exc:
                raise CommandError(str(exc)) from exc
            else:
                failed = None
        self.print_report(report)
        if failed is not None:
            raise CommandError(
                f"{failed}\nWhat was synced before it kept its Stripe ids; "
                "run the command again to continue."
            ) from failed

    def print_report(self, report: SyncReport) -> None:
        if report.changes:
            rows = [
                (c.item, c.currency or "-", c.action.value, c.stripe_id or "-", c.detail)
                for c in report.changes
            ]
            self.stdout.write(format_table(HEADERS, rows))
            self.stdout.write("")
        elif report.items == 0:
            self.stdout.write("The catalogue has no plans or token packages to sync.")
        self.stdout.write(report.summary, self.style.SUCCESS)
        if report.dry_run:
            self.stdout.write(
                "Dry run: nothing was written to Stripe or the database.", self.style.WARNING
            )
