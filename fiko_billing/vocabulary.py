"""The words for what is sold, and how each kind of product behaves.

The HTTP API calls the two kinds of product ``"full"`` (a subscription plan)
and ``"token"`` (a token package); that spelling is the public one and the
value of ``ProductKind``. Everything else a kind decides is in ``KindRules``,
one row per kind: the word Stripe's metadata, lookup keys and product ids
use, the Checkout mode, the kind of its first payment, whether its tokens
expire. A new kind of product is a new member and a new row here.

``fiko_item`` metadata (on Checkout Sessions, subscriptions, payment
intents and products) is written by ``encode_item`` and read by
``decode_item`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

__all__ = [
    "ITEM_METADATA_KEY",
    "PLAN_KINDS",
    "RULES",
    "ItemRef",
    "KindRules",
    "PaymentKind",
    "ProductKind",
    "StripeMode",
    "decode_item",
    "encode_item",
]

#: The metadata key naming the product a Stripe object sells.
ITEM_METADATA_KEY = "fiko_item"


class PaymentKind(models.TextChoices):
    SUBSCRIPTION = "subscription", _("Subscription (first payment)")
    RENEWAL = "renewal", _("Subscription renewal")
    PLAN_CHANGE = "plan_change", _("Plan change")
    TOKEN_PACKAGE = "token_package", _("Token package")


class StripeMode(StrEnum):
    """A Checkout Session's ``mode``."""

    SUBSCRIPTION = "subscription"
    PAYMENT = "payment"


@dataclass(frozen=True)
class KindRules:
    """What one kind of product decides."""

    #: The word for the kind in Stripe: ``fiko_item`` metadata (``plan:7``),
    #: lookup keys (``fiko_plan_7_usd``) and product ids. Stripe already holds
    #: these, so the word stays as it was first written.
    stripe_word: str
    #: The kind of the payment a checkout of it records.
    first_payment: PaymentKind
    #: Sold only as a subscription (an interval is required), else once or recurring.
    always_recurring: bool
    #: A subscription to it is the subscriber's plan: entitlements, at most one
    #: per subscriber, plan changes, upgrade allowances.
    is_plan: bool
    #: Its tokens are a period's allowance that expires at the period's end;
    #: otherwise a purchase that never expires.
    tokens_expire: bool
    #: Its price may be 0 (a free plan); otherwise at least Stripe's minimum charge.
    may_be_free: bool
    #: The least number of tokens one unit grants.
    min_tokens: int
    #: The message for an id that names no active product of the kind.
    not_found: Promise


class ProductKind(models.TextChoices):
    """A kind of product, spelt as the HTTP API spells it (``plan_type``)."""

    FULL = "full", _("Subscription plan")
    TOKEN = "token", _("Token package")

    @property
    def rules(self) -> KindRules:
        return RULES[self]

    @classmethod
    def from_stripe_word(cls, word: str) -> ProductKind | None:
        return next((kind for kind in cls if RULES[kind].stripe_word == word), None)


RULES: dict[ProductKind, KindRules] = {
    ProductKind.FULL: KindRules(
        stripe_word="plan",
        first_payment=PaymentKind.SUBSCRIPTION,
        always_recurring=True,
        is_plan=True,
        tokens_expire=True,
        may_be_free=True,
        min_tokens=0,
        not_found=_("No active plan with id %(id)d."),
    ),
    ProductKind.TOKEN: KindRules(
        stripe_word="package",
        first_payment=PaymentKind.TOKEN_PACKAGE,
        always_recurring=False,
        is_plan=False,
        tokens_expire=False,
        may_be_free=False,
        min_tokens=1,
        not_found=_("No active token package with id %(id)d."),
    ),
}


#: The kinds of product whose subscription is the subscriber's plan.
PLAN_KINDS = frozenset(kind for kind, rules in RULES.items() if rules.is_plan)


class ItemRef(NamedTuple):
    """A product as ``fiko_item`` metadata names it."""

    kind: ProductKind
    pk: int


def encode_item(kind: ProductKind | str, pk: int) -> str:
    """The value of ``metadata[fiko_item]`` for a product: ``plan:7``, ``package:3``."""
    return f"{ProductKind(kind).rules.stripe_word}:{pk}"


def decode_item(value: str | None) -> ItemRef | None:
    """The product ``metadata[fiko_item]`` names, or ``None`` if it names none.

    Reads what ``encode_item`` writes (``plan:7``, ``package:3``), which is
    also what every earlier version wrote.
    """
    word, _sep, pk = (value or "").partition(":")
    kind = ProductKind.from_stripe_word(word)
    if kind is None or not pk.isdigit():
        return None
    return ItemRef(kind, int(pk))
