"""Money is integer minor units; this module checks currencies and turns amounts into text."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_name, is_currency

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

#: Stripe's minimum charge per presentment currency, in minor units
#: (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
#: Stripe refuses a charge below it; for a currency not listed, the minimum
#: is the equivalent of the account's settlement currency's, which depends on
#: the exchange rate of the day and is left to Stripe.
MINIMUM_CHARGE: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}


def normalise_currency(code: str) -> str:
    """Stripe's spelling of a currency code: trimmed, lower case."""
    return code.strip().lower()


def currency_problem(code: object) -> str | None:
    """Why ``code`` is not a currency Stripe charges in, or ``None`` when it is one.

    ISO 4217 membership comes from Babel's copy of the Unicode CLDR, which
    tracks the standard; whether Stripe accepts the currency from Stripe's
    own list above.
    """
    if not isinstance(code, str) or len(code.strip()) != 3 or not code.strip().isascii():
        return f"{code!r} is not a three-letter ISO 4217 currency code"
    normal = normalise_currency(code)
    if not normal.isalpha() or not is_currency(normal.upper()):
        return f"{normal.upper()} is not an ISO 4217 currency code"
    if normal not in ISO_4217:
        name = get_currency_name(normal.upper(), locale="en")
        return f"Stripe does not charge in {normal.upper()} ({name})"
    return None


def minimum_charge(currency: str) -> int:
    """The smallest amount Stripe charges in ``currency``, in minor units (1 when unknown)."""
    return MINIMUM_CHARGE.get(normalise_currency(currency), 1)
