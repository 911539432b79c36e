"""The demo catalogue and the demo user, written so that a second load changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.db import models, transaction

from demo.hints import ALICE_PASSWORD, ALICE_USERNAME, DEMO_PASSWORD, DEMO_USERNAME
from fiko_billing.models import Interval, Plan, Price, TokenPackage

Report = Callable[[str], None]
M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class DemoItem:
    name: str
    description: str
    #: Minor units per currency: 500 is $5.00 in "usd" and €5.00 in "eur".
    prices: dict[str, int]


PLANS: list[tuple[DemoItem, str, int]] = [
    (
        DemoItem("Monthly", "Billed every month; cancel any time.", {"usd": 500, "eur": 500}),
        Interval.MONTH,
        10_000,
    ),
    (
        DemoItem("Yearly", "Billed once a year.", {"usd": 1000, "eur": 1000}),
        Interval.YEAR,
        10_000,
    ),
]

PACKAGES: list[tuple[DemoItem, int]] = [
    (DemoItem("1,000 tokens", "A one-time top-up.", {"usd": 100, "eur": 100}), 1_000),
    (DemoItem("100,000 tokens", "A one-time top-up.", {"usd": 5000, "eur": 5000}), 100_000),
]


def _put(model: type[M], lookup: dict[str, Any], values: dict[str, Any]) -> tuple[M, str]:
    """Create the row, or update only the fields that differ: ``created``, ``updated``
    or ``unchanged``. An untouched row keeps its ``modified`` time, which
    ``sync_stripe_products`` reads."""
    row = model._default_manager.filter(**lookup).first()
    if row is None:
        return model._default_manager.create(**lookup, **values), "created"
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    if not changed:
        return row, "unchanged"
    for name in changed:
        setattr(row, name, values[name])
    row.save()
    return row, "updated"


def _prices(item: DemoItem, owner: dict[str, Any], report: Report) -> None:
    for currency, unit_amount in item.prices.items():
        _row, outcome = _put(
            Price, {**owner, "currency": currency}, {"unit_amount": unit_amount, "active": True}
        )
        if outcome != "unchanged":
            report(f"{outcome} price {item.name} {currency.upper()}")


def load_catalogue(report: Report) -> None:
    """Plans, token packages, their USD and EUR prices, the demo superuser and alice."""
    with transaction.atomic():
        for order, (item, interval, allowance) in enumerate(PLANS):
            plan, outcome = _put(
                Plan,
                {"name": item.name},
                {
                    "description": item.description,
                    "interval": interval,
                    "tokens": allowance,
                    "active": True,
                    "sort_order": order,
                },
            )
            report(f"{outcome} plan {plan.name!r}")
            _prices(item, {"product": plan}, report)
        for order, (item, amount) in enumerate(PACKAGES):
            package, outcome = _put(
                TokenPackage,
                {"name": item.name},
                {
                    "description": item.description,
                    "tokens": amount,
                    "interval": "",
                    "active": True,
                    "sort_order": order,
                },
            )
            report(f"{outcome} token package {package.name!r}")
            _prices(item, {"product": package}, report)
        _demo_user(report)
        _alice(report)


def _demo_user(report: Report) -> None:
    users = get_user_model()._default_manager
    if users.filter(username=DEMO_USERNAME).exists():
        report(f"superuser {DEMO_USERNAME!r} already exists")
        return
    users.create_superuser(DEMO_USERNAME, f"{DEMO_USERNAME}@example.com", DEMO_PASSWORD)
    report(f"created superuser {DEMO_USERNAME!r} (password {DEMO_PASSWORD!r})")


def _alice(report: Report) -> None:
    users = get_user_model()._default_manager
    if users.filter(username=ALICE_USERNAME).exists():
        report(f"user {ALICE_USERNAME!r} already exists")
        return
    users.create_user(
        ALICE_USERNAME,
        f"{ALICE_USERNAME}@example.com",
        ALICE_PASSWORD,
        first_name="Alice",
        last_name="Example",
    )
    report(f"created user {ALICE_USERNAME!r} (password {ALICE_PASSWORD!r})")
