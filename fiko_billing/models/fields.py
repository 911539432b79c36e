"""Model fields of our own."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from fiko_billing.money import currency_problem, normalise_currency

#: U+E000, the first code point of Unicode's private use area: the escape
#: character of ``NulSafeJSONField``'s stored form.
ESCAPE = "\ue000"
_ENCODE = re.compile("[\x00\ue000]")
_DECODE = re.compile("\ue000(.)", re.DOTALL)
_ENCODED = {"\x00": ESCAPE + "0", ESCAPE: ESCAPE + "e"}
_DECODED = {"0": "\x00", "e": ESCAPE}


def _encode_text(text: str) -> str:
    return _ENCODE.sub(lambda m: _ENCODED[m.group()], text)


def _decode_text(text: str) -> str:
    return _DECODE.sub(lambda m: _DECODED.get(m.group(1), m.group()), text)


def _transform(value: Any, text: Any) -> Any:
    """``value`` with ``text`` applied to every key and string, without recursion."""
    if isinstance(value, str):
        return text(value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any, Any]] = [(root, 0, value)]
    while stack:
        parent, key, node = stack.pop()
        if isinstance(node, dict):
            copy: Any = {}
            for name, member in node.items():
                copy[text(name)] = member
                stack.append((copy, text(name), member))
        elif isinstance(node, list):
            copy = list(node)
            stack.extend((copy, index, member) for index, member in enumerate(node))
        elif isinstance(node, str):
            copy = text(node)
        else:
            copy = node
        parent[key] = copy
    return root[0]


def encode_nul(value: Any) -> Any:
    """``value`` with U+0000 (and the escape character itself) escaped in every string."""
    return _transform(value, _encode_text)


def decode_nul(value: Any) -> Any:
    """The inverse of ``encode_nul``."""
    return _transform(value, _decode_text)


def _may_need_escaping(value: Any, encoder: Any) -> bool:
    """Whether ``value`` may hold U+0000 or U+E000 in a key or string.

    Serialising in C and searching the text is far cheaper than walking a
    large payload (an event is thousands of strings) in Python. ASCII-only
    JSON writes both characters as escapes; a literal backslash before ``u``
    makes a false alarm at worst, never a miss.
    """
    if value is None or isinstance(value, bool | int | float):
        return False
    try:
        text = json.dumps(value, cls=encoder, ensure_ascii=True)
    except (TypeError, ValueError):
        return True  # let the walk and the field's own encoder say what is wrong
    return "\\u0000" in text or "\\ue000" in text


class NulSafeJSONField(models.JSONField):
    """A ``JSONField`` that stores strings holding U+0000, which PostgreSQL's ``jsonb`` refuses.

    Stripe passes customer-supplied text through unchanged, NUL included; an
    event holding one must still be stored and read back exactly. On the way
    in, U+0000 becomes U+E000 ``0`` and U+E000 becomes U+E000 ``e``; on the
    way out both are turned back, so code reading the field sees the original
    value. Strings without either character are stored as they are, so the
    stored JSON stays queryable.
    """

    def get_prep_value(self, value: Any) -> Any:
        if _may_need_escaping(value, self.encoder):
            value = encode_nul(value)
        return super().get_prep_value(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        loaded = super().from_db_value(value, expression, connection)
        # Only a stored form that holds the escape character needs decoding;
        # SQLite keeps it as the JSON escape \ue000, PostgreSQL as itself.
        if isinstance(value, str) and (ESCAPE in value or "\\ue000" in value):
            return decode_nul(loaded)
        if not isinstance(value, str) and value is not None:
            return decode_nul(loaded)
        return loaded


def validate_currency(value: str) -> None:
    """A currency Stripe charges in, in any case (the field stores it lower-cased)."""
    problem = currency_problem(value)
    if problem is not None:
        raise ValidationError(
            _("%(problem)s. Use a three-letter code Stripe accepts, such as 'usd' or 'eur'."),
            code="invalid_currency",
            params={"problem": problem},
        )


class CurrencyFormField(forms.CharField):
    """The form side of ``CurrencyField``: what is typed is cleaned to lower case."""

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        return normalise_currency(value) if isinstance(value, str) else value


class CurrencyField(models.CharField):  # type: ignore[type-arg]
    """A three-letter currency code, always stored and compared in Stripe's lower case.

    ``"EUR"`` given to ``save()``, ``full_clean()``, a form or a query filter
    becomes ``"eur"``: Stripe and every other part of this package write
    currencies in lower case, and one spelling per currency keeps the
    per-currency unique constraints meaningful.
    """

    default_validators = [validate_currency]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 3)
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        return normalise_currency(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return normalise_currency(value) if isinstance(value, str) else value

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"form_class": CurrencyFormField, **kwargs})

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if isinstance(value, str):
            value = normalise_currency(value)
            setattr(model_instance, self.attname, value)
        return value
