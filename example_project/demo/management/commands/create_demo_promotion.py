"""Create the demo's 20 % promotion code in Stripe unless it exists."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from demo.hints import PROMOTION_CODE, PROMOTION_PERCENT_OFF
from demo.promotion import ensure_promotion_code
from fiko_billing.gateway import StripeGatewayError


class Command(BaseCommand):
    help = (
        f"Create the promotion code {PROMOTION_CODE} ({PROMOTION_PERCENT_OFF}% off the first "
        "payment) and its coupon in Stripe, unless an active code of that name exists."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            promotion_id, created = ensure_promotion_code()
        except StripeGatewayError as exc:
            raise CommandError(f"Stripe refused the promotion code: {exc}") from exc
        verb = "created" if created else "found"
        self.stdout.write(f"{verb} promotion code {PROMOTION_CODE} ({promotion_id})")
