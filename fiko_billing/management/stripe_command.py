"""The base of the management commands that call Stripe."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from fiko_billing.gateway import command_time_budget


class StripeCommand(BaseCommand):
    """A command, not a web request: each Stripe call may take ``STRIPE_COMMAND_TIME_BUDGET``.

    Without it a call would get the much shorter budget of a web request.
    """

    def execute(self, *args: Any, **options: Any) -> str | None:
        with command_time_budget():
            return super().execute(*args, **options)
