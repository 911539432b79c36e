"""Create or update the Stripe webhook endpoint with exactly the events we handle."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.core.validators import URLValidator

from fiko_billing import stripe_shapes as shapes
from fiko_billing.conf import billing_settings
from fiko_billing.gateway import StripeGatewayError, get_gateway, new_idempotency_key
from fiko_billing.management.stripe_command import StripeCommand
from fiko_billing.services.events import handled_event_types


class Command(StripeCommand):
    help = (
        "Create (or update) the Stripe webhook endpoint for URL with the event types fiko_billing "
        "handles and the pinned API version; prints the signing secret once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", required=True, help="https://example.com/billing/stripe/webhook/"
        )
        parser.add_argument("--dry-run", action="store_true", help="Show what would be done.")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"]
        try:
            URLValidator(schemes=["https", "http"])(url)
        except ValidationError as exc:
            raise CommandError(f"--url is not a valid URL: {url!r}") from exc
        if url.startswith("http://") and not billing_settings.TEST_MODE:
            raise CommandError("Stripe delivers live events to https URLs only.")
        events = handled_event_types()
        version = billing_settings.STRIPE_API_VERSION
        try:
            gateway = get_gateway()
            existing = next(
                (e for e in gateway.list_webhook_endpoints() if e.get("url") == url), None
            )
            if existing is None:
                self._create(gateway, url, events, version, dry_run=options["dry_run"])
            else:
                self._update(gateway, existing, url, events, version, dry_run=options["dry_run"])
        except StripeGatewayError as exc:
            raise CommandError(f"Stripe failed: {exc} (request {exc.request_id or '-'})") from exc

    def _create(
        self, gateway: Any, url: str, events: list[str], version: str, *, dry_run: bool
    ) -> None:
        """A new endpoint; its signing secret is printed, the only time Stripe shows it."""
        if dry_run:
            self.stdout.write(
                f"Would create a webhook endpoint for {url}\n"
                f"  API version {version}\n  events:\n{_listing(events)}"
            )
            return
        created = gateway.create_webhook_endpoint(
            {
                "url": url,
                "enabled_events": events,
                "api_version": version,
                "description": "fiko-billing",
            },
            # A fresh key: after a deletion the same request must create anew.
            idempotency_key=new_idempotency_key("webhook_endpoint"),
        )
        self.stdout.write(
            f"Created webhook endpoint {created['id']} for {url} "
            f"({len(events)} event types, API version {version})."
        )
        secret = created.get("secret")
        if secret:
            self.stdout.write(
                f"Signing secret (shown once; store it as STRIPE_WEBHOOK_SECRET):\n  {secret}"
            )

    def _update(
        self,
        gateway: Any,
        existing: shapes.WebhookEndpoint,
        url: str,
        events: list[str],
        version: str,
        *,
        dry_run: bool,
    ) -> None:
        """The existing endpoint brought to exactly our events, enabled; the secret is kept."""
        self._warn_about_api_version(existing, version)
        changes = _changes(existing, events)
        if not changes:
            self.stdout.write(f"Webhook endpoint {existing['id']} for {url} is up to date.")
            return
        if dry_run:
            self.stdout.write(
                f"Would update webhook endpoint {existing['id']}: "
                f"{', '.join(sorted(changes))}\n  events:\n{_listing(events)}"
            )
            return
        gateway.update_webhook_endpoint(
            existing["id"],
            changes,
            idempotency_key=new_idempotency_key("webhook_endpoint"),
        )
        self.stdout.write(
            f"Updated webhook endpoint {existing['id']}: {', '.join(sorted(changes))}. "
            "The signing secret is unchanged."
        )

    def _warn_about_api_version(self, existing: shapes.WebhookEndpoint, version: str) -> None:
        if existing.get("api_version") in (None, version):
            return
        self.stderr.write(
            f"Endpoint {existing['id']} renders events with API version "
            f"{existing.get('api_version')}; "
            "Stripe cannot change that on an existing endpoint. Delete it and run this "
            "command "
            f"again to get one with {version}."
        )


def _changes(existing: shapes.WebhookEndpoint, events: list[str]) -> dict[str, Any]:
    """What an update must send so the endpoint has exactly ``events`` and is enabled."""
    changes: dict[str, Any] = {}
    if sorted(existing.get("enabled_events") or []) != events:
        changes["enabled_events"] = events
    if existing.get("status") == "disabled":
        changes["disabled"] = False
    return changes


def _listing(events: list[str]) -> str:
    return "\n".join(f"  - {e}" for e in events)
