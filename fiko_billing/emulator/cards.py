"""Stripe's test cards and what each one does, on session and off session."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

SUCCESS = "success"
AUTHENTICATE = "authenticate"
ALWAYS_AUTHENTICATE = "always_authenticate"
DISPUTED = "disputed"
INSUFFICIENT_FUNDS = "insufficient_funds"
FAILS_LATER = "fails_later"
GENERIC_DECLINE = "generic_decline"
EXPIRED = "expired_card"
INCORRECT_CVC = "incorrect_cvc"
PROCESSING_ERROR = "processing_error"
LIVE_CARD = "live_card"

TEST_CARDS: dict[str, str] = {
    "4242424242424242": SUCCESS,
    "4000056655665556": SUCCESS,
    "5555555555554444": SUCCESS,
    "378282246310005": SUCCESS,
    "4000002500003155": AUTHENTICATE,
    "4000002760003184": ALWAYS_AUTHENTICATE,
    "4000000000009995": INSUFFICIENT_FUNDS,
    "4000000000000341": FAILS_LATER,
    "4000000000000259": DISPUTED,
    "4000000000000002": GENERIC_DECLINE,
    "4000000000000069": EXPIRED,
    "4000000000000127": INCORRECT_CVC,
    "4000000000000119": PROCESSING_ERROR,
}


@dataclass(frozen=True)
class Decline:
    """A card error as Stripe reports it (HTTP 402, ``type=card_error``)."""

    code: str
    message: str
    decline_code: str | None = None


DECLINES: dict[str, Decline] = {
    INSUFFICIENT_FUNDS: Decline(
        "card_declined", "Your card has insufficient funds.", "insufficient_funds"
    ),
    GENERIC_DECLINE: Decline("card_declined", "Your card was declined.", "generic_decline"),
    FAILS_LATER: Decline("card_declined", "Your card was declined.", "generic_decline"),
    EXPIRED: Decline("expired_card", "Your card has expired.", "expired_card"),
    INCORRECT_CVC: Decline("incorrect_cvc", "Your card's security code is incorrect."),
    PROCESSING_ERROR: Decline(
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    LIVE_CARD: Decline(
        "card_declined",
        "Your card was declined. Your request was in test mode, but used a non test (live) "
        "card. For a list of valid test cards, visit: https://docs.stripe.com/testing.",
        "test_mode_live_card",
    ),
}

AUTHENTICATION_FAILED = Decline(
    "payment_intent_authentication_failure",
    "We are unable to authenticate your payment method. Please choose a different payment "
    "method and try again.",
)


class CardInputError(ValueError):
    """What the hosted page says about a number, expiry or CVC it cannot accept."""


@dataclass(frozen=True)
class Card:
    number: str
    exp_month: int
    exp_year: int
    behaviour: str

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def brand(self) -> str:
        if self.number.startswith(("34", "37")):
            return "amex"
        if self.number[:2] in {"51", "52", "53", "54", "55"} or self.number.startswith("2"):
            return "mastercard"
        return "visa"

    @property
    def funding(self) -> str:
        return "debit" if self.number == "4000056655665556" else "credit"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]

    def decline(self, *, off_session: bool, authenticated: bool = False) -> Decline | None:
        """The error a charge of this card meets, or None when it goes through."""
        if self.behaviour in (SUCCESS, AUTHENTICATE, ALWAYS_AUTHENTICATE, DISPUTED):
            return None
        if self.behaviour == FAILS_LATER:
            # Attaching works and the first, on-session payment goes through;
            # every later off-session charge is declined.
            return DECLINES[FAILS_LATER] if off_session else None
        return DECLINES[self.behaviour]

    def needs_authentication(self, *, off_session: bool) -> bool:
        # 3155 authenticates once on session; set up that way, renewals pass.
        # 3184 asks for authentication on every payment, renewals included.
        if self.behaviour == ALWAYS_AUTHENTICATE:
            return True
        return self.behaviour == AUTHENTICATE and not off_session

    def can_be_saved(self) -> Decline | None:
        """The error attaching this card meets (a setup, as in the portal)."""
        if self.behaviour in (
            GENERIC_DECLINE,
            EXPIRED,
            INCORRECT_CVC,
            PROCESSING_ERROR,
            LIVE_CARD,
        ):
            return DECLINES[self.behaviour]
        return None


def luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def read_card(number: str, expiry: str, cvc: str, *, now: int) -> Card:
    """A card from the hosted form's fields; spaces and dashes in the number are fine."""
    digits = number.replace(" ", "").replace("-", "")
    if not digits:
        raise CardInputError("Your card number is incomplete.")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_ok(digits):
        raise CardInputError("Your card number is invalid.")
    month, year = _expiry(expiry)
    today = datetime.fromtimestamp(now, UTC)
    if (year, month) < (today.year, today.month):
        raise CardInputError("Your card's expiration date is in the past.")
    cvc = cvc.strip()
    if not cvc.isdigit() or not 3 <= len(cvc) <= 4:
        raise CardInputError("Your card's security code is incomplete.")
    return Card(digits, month, year, TEST_CARDS.get(digits, LIVE_CARD))


def saved_card(number: str, exp_month: int, exp_year: int) -> Card:
    return Card(number, exp_month, exp_year, TEST_CARDS.get(number, LIVE_CARD))


def _expiry(text: str) -> tuple[int, int]:
    cleaned = text.replace(" ", "")
    month_text, _, year_text = cleaned.partition("/")
    if not (month_text.isdigit() and year_text.isdigit() and len(year_text) in (2, 4)):
        raise CardInputError("Your card's expiration date is incomplete.")
    month = int(month_text)
    if not 1 <= month <= 12:
        raise CardInputError("Your card's expiration month is invalid.")
    year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    return month, year
