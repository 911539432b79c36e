"""Minor units to display text, for two-, zero- and three-decimal currencies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fiko_billing.money import (
    ISO_4217,
    SYMBOLS,
    THREE_DECIMAL,
    ZERO_DECIMAL,
    exponent,
    format_amount,
    to_major,
)


@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        ("usd", 2),
        ("eur", 2),
        ("gbp", 2),
        ("jpy", 0),
        ("krw", 0),
        ("vnd", 0),
        ("kwd", 3),
        ("bhd", 3),
        ("tnd", 3),
        ("xyz", 2),
        ("JPY", 0),
        ("KWD", 3),
        ("USD", 2),
    ],
)
def test_exponent(currency: str, digits: int) -> None:
    assert exponent(currency) == digits


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (500, "usd", "5.00"),
        (1, "usd", "0.01"),
        (0, "usd", "0.00"),
        (-250, "usd", "-2.50"),
        (1999, "eur", "19.99"),
        (500, "jpy", "500"),
        (-500, "jpy", "-500"),
        (12500, "kwd", "12.500"),
        (1, "kwd", "0.001"),
        (1234, "xyz", "12.34"),
        (500, "JPY", "500"),
    ],
)
def test_to_major_is_exact_with_the_currency_exponent(
    amount: int, currency: str, expected: str
) -> None:
    major = to_major(amount, currency)
    assert isinstance(major, Decimal)
    # str() shows the scale too: 5.00, not 5 or 5.0.
    assert str(major) == expected
    assert major == Decimal(expected)


def test_to_major_does_not_round_large_amounts() -> None:
    # 2**53 + 1 minor units: a float would come back one cent short.
    assert str(to_major(9_007_199_254_740_993, "usd")) == "90071992547409.93"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (500, "usd", "$5.00"),
        (0, "usd", "$0.00"),
        (5, "usd", "$0.05"),
        (123_456, "usd", "$1,234.56"),
        (123_456_789, "usd", "$1,234,567.89"),
        (-123_456, "usd", "-$1,234.56"),
        (-5, "usd", "-$0.05"),
        (1000, "eur", "€10.00"),
        (100_000_000, "eur", "€1,000,000.00"),
        (-1999, "eur", "-€19.99"),
        (999, "gbp", "£9.99"),
        (500, "jpy", "¥500"),
        (1_234_567, "jpy", "¥1,234,567"),
        (-1_234_567, "jpy", "-¥1,234,567"),
        (12_500, "kwd", "12.500 KWD"),
        (1_234_567, "kwd", "1,234.567 KWD"),
        (-1_234_567, "kwd", "-1,234.567 KWD"),
        (1234, "xyz", "12.34 XYZ"),
        (123_456_789, "xyz", "1,234,567.89 XYZ"),
        (-1234, "xyz", "-12.34 XYZ"),
        (123_456, "chf", "1,234.56 CHF"),
        (500, "USD", "$5.00"),
        (500, "JPY", "¥500"),
    ],
)
def test_format_amount(amount: int, currency: str, expected: str) -> None:
    assert format_amount(amount, currency) == expected


def test_the_special_cases_are_currencies_stripe_accepts() -> None:
    assert ZERO_DECIMAL <= ISO_4217
    assert THREE_DECIMAL <= ISO_4217
    assert set(SYMBOLS) <= ISO_4217
    assert not ZERO_DECIMAL & THREE_DECIMAL
    assert {"usd", "eur", "gbp", "jpy", "kwd"} <= ISO_4217
    assert "xyz" not in ISO_4217
