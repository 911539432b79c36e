"""Load the demo catalogue and the demo superuser; running it again changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from fiko_billing.models import Interval, Plan, Price, TokenPackage

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - a local demo account, printed on purpose


@dataclass(frozen=True)
class DemoItem:
    name: str
    description: str
    #: Minor units per currency: 500 is $5.00 in "usd" and €5.00 in "eur".
    prices: dict[str, int]


PLANS: list[tuple[DemoItem, str, int]] = [
    (
        DemoItem("Monthly", "10,000 tokens every month.", {"usd": 500, "eur": 500}),
        Interval.MONTH,
        10_000,
    ),
    (
        DemoItem("Yearly", "10,000 tokens every billing period.", {"usd": 1000, "eur": 1000}),
        Interval.YEAR,
        10_000,
    ),
]

PACKAGES: list[tuple[DemoItem, int]] = [
    (DemoItem("1,000 tokens", "A one-time top-up.", {"usd": 100, "eur": 100}), 1_000),
    (DemoItem("100,000 tokens", "A one-time top-up.", {"usd": 5000, "eur": 5000}), 100_000),
]


class Command(BaseCommand):
    help = (
        "Create or update the demo plans and token packages with their USD and EUR prices, "
        f"and create the superuser {DEMO_USERNAME!r} if it is missing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            for order, (item, interval, allowance) in enumerate(PLANS):
                plan, created = Plan.objects.update_or_create(
                    name=item.name,
                    defaults={
                        "description": item.description,
                        "interval": interval,
                        "tokens_per_period": allowance,
                        "active": True,
                        "sort_order": order,
                    },
                )
                self._prices(item, plan=plan)
                self._report("plan", plan.name, created)
            for order, (item, amount) in enumerate(PACKAGES):
                package, created = TokenPackage.objects.update_or_create(
                    name=item.name,
                    defaults={
                        "description": item.description,
                        "tokens": amount,
                        "interval": "",
                        "active": True,
                        "sort_order": order,
                    },
                )
                self._prices(item, package=package)
                self._report("token package", package.name, created)
            self._demo_user()

    def _prices(
        self, item: DemoItem, *, plan: Plan | None = None, package: TokenPackage | None = None
    ) -> None:
        for currency, unit_amount in item.prices.items():
            Price.objects.update_or_create(
                plan=plan,
                package=package,
                currency=currency,
                defaults={"unit_amount": unit_amount, "active": True},
            )

    def _demo_user(self) -> None:
        users = get_user_model().objects
        if users.filter(username=DEMO_USERNAME).exists():
            self.stdout.write(f"superuser {DEMO_USERNAME!r} already exists")
            return
        users.create_superuser(DEMO_USERNAME, f"{DEMO_USERNAME}@example.com", DEMO_PASSWORD)
        self.stdout.write(
            self.style.SUCCESS(f"created superuser {DEMO_USERNAME!r} (password {DEMO_PASSWORD!r})")
        )

    def _report(self, kind: str, name: str, created: bool) -> None:
        self.stdout.write(f"{'created' if created else 'updated'} {kind} {name!r}")
