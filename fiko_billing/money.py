"""Money is integer minor units; this module only turns it into text for display."""

from __future__ import annotations

from decimal import Decimal

# Stripe's zero-decimal and three-decimal currencies
# (https://docs.stripe.com/currencies#special-cases). Everything else has two.
ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "krw": "₩"}


def exponent(currency: str) -> int:
    """Digits after the decimal point in ``currency``'s major unit."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_major(amount: int, currency: str) -> Decimal:
    """``amount`` minor units as an exact decimal of major units."""
    return Decimal(amount).scaleb(-exponent(currency))


def format_amount(amount: int, currency: str) -> str:
    """A display string: ``$5.00``, ``€10.00``, ``¥500``, ``12.500 KWD``."""
    major = to_major(amount, currency)
    digits = exponent(currency)
    number = f"{major:,.{digits}f}"
    symbol = SYMBOLS.get(currency.lower())
    if symbol:
        return f"-{symbol}{number[1:]}" if number.startswith("-") else f"{symbol}{number}"
    return f"{number} {currency.upper()}"
