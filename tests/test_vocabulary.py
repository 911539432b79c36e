"""One word per kind of product, and one encoding of ``metadata[fiko_item]``."""

from __future__ import annotations

import pytest

from fiko_billing.models import PaymentKind
from fiko_billing.vocabulary import (
    PLAN_KINDS,
    ItemRef,
    ProductKind,
    StripeMode,
    decode_item,
    encode_item,
)


def test_the_public_spelling_is_the_apis() -> None:
    assert ProductKind.values == ["full", "token"]
    assert ProductKind("full") is ProductKind.FULL
    assert {ProductKind.FULL} == PLAN_KINDS


@pytest.mark.parametrize(
    ("kind", "word", "first_payment", "expires"),
    [
        (ProductKind.FULL, "plan", PaymentKind.SUBSCRIPTION, True),
        (ProductKind.TOKEN, "package", PaymentKind.TOKEN_PACKAGE, False),
    ],
)
def test_each_kind_has_one_row_of_rules(
    kind: ProductKind, word: str, first_payment: PaymentKind, expires: bool
) -> None:
    rules = kind.rules
    assert (rules.stripe_word, rules.first_payment, rules.tokens_expire) == (
        word,
        first_payment,
        expires,
    )
    assert ProductKind.from_stripe_word(word) is kind
    assert {mode.value for mode in StripeMode} == {"subscription", "payment"}


@pytest.mark.parametrize(
    ("kind", "pk", "encoded"),
    [
        (ProductKind.FULL, 7, "plan:7"),
        (ProductKind.TOKEN, 12, "package:12"),
        ("full", 1, "plan:1"),
    ],
)
def test_encode_and_decode_are_inverse(kind: ProductKind | str, pk: int, encoded: str) -> None:
    assert encode_item(kind, pk) == encoded
    assert decode_item(encoded) == ItemRef(ProductKind(kind), pk)


@pytest.mark.parametrize(
    "stored", [None, "", "plan", "plan:", "plan:x", "plan:-1", "full:3", "bundle:3", ":3"]
)
def test_what_names_no_product_decodes_to_none(stored: str | None) -> None:
    assert decode_item(stored) is None
