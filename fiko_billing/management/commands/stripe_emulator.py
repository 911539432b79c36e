"""Run the local Stripe emulator wired to this project's settings and webhook URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import NoReverseMatch, reverse

from fiko_billing.conf import billing_settings
from fiko_billing.emulator.__main__ import main as run_emulator


class Command(BaseCommand):
    help = (
        "Run the local Stripe emulator: webhooks go to this project's webhook URL, signed "
        "with FIKO_BILLING['STRIPE_WEBHOOK_SECRET'], and only this project's "
        "STRIPE_SECRET_KEY is accepted. Point STRIPE_API_BASE at the printed URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=None, help="Default: STRIPE_API_BASE's.")
        parser.add_argument(
            "--site",
            default="http://127.0.0.1:8000",
            help="Where this Django project is served (default http://127.0.0.1:8000).",
        )
        parser.add_argument("--state", help="JSON file to keep the emulator's state in.")
        parser.add_argument(
            "--api-key",
            action="append",
            dest="api_keys",
            metavar="KEY",
            help="Secret key the emulator accepts (repeatable). Default: "
            "FIKO_BILLING['STRIPE_SECRET_KEY'], so a project set up with another key fails "
            "here as it would at Stripe.",
        )
        parser.add_argument("--verbose", action="store_true", help="Log every request.")

    def handle(self, *args: Any, **options: Any) -> None:
        secrets = billing_settings.STRIPE_WEBHOOK_SECRET
        if not secrets:
            raise CommandError(
                "FIKO_BILLING['STRIPE_WEBHOOK_SECRET'] is empty: set it (any whsec_... value) "
                "so the emulator can sign its webhooks."
            )
        try:
            path = reverse("fiko_billing:stripe-webhook")
        except NoReverseMatch as exc:
            raise CommandError(
                "fiko_billing.urls is not in the URLconf: include it, e.g. "
                'path("billing/", include("fiko_billing.urls")).'
            ) from exc
        port = options["port"]
        if port is None:
            base = urlsplit(billing_settings.STRIPE_API_BASE)
            if base.hostname not in ("127.0.0.1", "localhost") or base.port is None:
                port = 12111
                self.stderr.write(
                    f"STRIPE_API_BASE is {billing_settings.STRIPE_API_BASE}; set it to "
                    f"http://127.0.0.1:{port} to use the emulator."
                )
            else:
                port = base.port
        keys = options["api_keys"] or (
            [billing_settings.STRIPE_SECRET_KEY] if billing_settings.STRIPE_SECRET_KEY else []
        )
        for key in keys:
            if not key.startswith(("sk_test_", "rk_test_")):
                raise CommandError(
                    "The emulator accepts test-mode secret keys only (sk_test_... or "
                    "rk_test_...): set FIKO_BILLING['STRIPE_SECRET_KEY'] to one, or pass "
                    "--api-key."
                )
        argv = [
            "--port",
            str(port),
            "--webhook-url",
            options["site"].rstrip("/") + path,
            "--webhook-secret",
            secrets[0],
        ]
        for key in keys:
            argv += ["--api-key", key]
        if options["state"]:
            argv += ["--state", options["state"]]
        if options["verbose"]:
            argv.append("--verbose")
        code = run_emulator(argv)
        if code:
            raise CommandError(f"the emulator stopped with exit code {code}")
