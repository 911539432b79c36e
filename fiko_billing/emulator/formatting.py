"""Amounts and dates as the hosted pages and line descriptions show them."""

from __future__ import annotations

from datetime import UTC, datetime

from fiko_billing.emulator.currencies import ZERO_DECIMAL


def money(amount: int, currency: str) -> str:
    code = currency.upper()
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount:,} {code}"
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) / 100:,.2f} {code}"


def day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d %b %Y")
