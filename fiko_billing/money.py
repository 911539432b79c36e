"""Money is integer minor units; this module only turns it into text for display."""

from __future__ import annotations

from decimal import Decimal

# Stripe's zero-decimal and three-decimal currencies
# (https://docs.stripe.com/currencies#special-cases). Everything else has two.
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

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


# The ISO 4217 codes of the currencies Stripe accepts for charges
# (https://docs.stripe.com/currencies#presentment-currencies), lower case as
# Stripe writes them. The system checks validate CURRENCY against it.
_STRIPE_CURRENCIES = """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl
    bsd bwp byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur
    fjd fkp gbp gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy
    kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop
    mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg
    qar ron rsd rub rwf sar sbd scr sek sgd shp sle sll sos srd std szl thb tjs tnd
    top try ttd twd tzs uah ugx usd uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
"""
ISO_4217 = frozenset(_STRIPE_CURRENCIES.split())
