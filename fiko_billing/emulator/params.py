"""Declared parameters of each endpoint, checked and converted as Stripe does.

Every endpoint states what it accepts; anything else is answered with
``parameter_unknown``, which is how Stripe rejects parameters removed by an
API version (``payment_method_types`` on Checkout under endive, ``coupon`` on
promotion codes since clover). Form values arrive as strings and leave as
ints, bools, dicts and lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fiko_billing.emulator.currencies import SUPPORTED
from fiko_billing.emulator.wire import StripeError, bad_param

Obj = dict[str, Any]


class Spec:
    required = False

    def check(self, value: Any, param: str) -> Any:
        raise NotImplementedError

    def req(self) -> Spec:
        self.required = True
        return self


class Str(Spec):
    def __init__(self, *, max_length: int = 5000, empty_unsets: bool = False) -> None:
        self.max_length = max_length
        self.empty_unsets = empty_unsets

    def check(self, value: Any, param: str) -> Any:
        if not isinstance(value, str):
            raise bad_param(f"Invalid string: {_show(value)}", param=param)
        if value == "" and self.empty_unsets:
            return None
        if len(value) > self.max_length:
            raise bad_param(
                f"Invalid string: {value[:20]}...; must be at most {self.max_length} characters",
                param=param,
                code="string_length_exceeded",
            )
        return value


class Currency(Spec):
    """A three-letter currency Stripe supports, in any case; answered in lower case."""

    def check(self, value: Any, param: str) -> Any:
        if not isinstance(value, str) or value.lower() not in SUPPORTED:
            raise bad_param(
                f"Invalid currency: {_show(value).lower()}. Stripe currently supports these "
                f"currencies: {', '.join(sorted(SUPPORTED))}",
                param=param,
            )
        return value.lower()


class Int(Spec):
    def __init__(self, *, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def check(self, value: Any, param: str) -> Any:
        if not isinstance(value, str) or not value.lstrip("-").isdigit():
            raise bad_param(
                f"Invalid integer: {_show(value)}", param=param, code="parameter_invalid_integer"
            )
        number = int(value)
        if self.minimum is not None and number < self.minimum:
            raise bad_param(
                f"This value must be greater than or equal to {self.minimum}.", param=param
            )
        if self.maximum is not None and number > self.maximum:
            raise bad_param(
                f"This value must be less than or equal to {self.maximum}.", param=param
            )
        return number


class Decimal(Spec):
    def check(self, value: Any, param: str) -> Any:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_param(
                f"Invalid decimal: {_show(value)}", param=param, code="parameter_invalid_decimal"
            ) from None


class Bool(Spec):
    def check(self, value: Any, param: str) -> Any:
        if value in ("true", "false"):
            return value == "true"
        raise bad_param(f"Invalid boolean: {_show(value)}", param=param)


class Enum(Spec):
    def __init__(self, *values: str) -> None:
        self.values = values

    def check(self, value: Any, param: str) -> Any:
        if value not in self.values:
            choices = ", ".join(f"`{v}`" for v in self.values)
            raise bad_param(
                f"Invalid {param}: must be one of {choices}", param=param, code="parameter_invalid"
            )
        return value


class Metadata(Spec):
    """``metadata[key]=value``; an empty value removes the key, ``metadata=`` clears all.

    Checked metadata is None for "clear all", else the hash to merge with
    ``merge_metadata`` (where an empty string still means "remove this key").
    """

    def check(self, value: Any, param: str) -> Any:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise bad_param("Invalid metadata: must be a hash", param=param)
        for key, item in value.items():
            if not isinstance(item, str):
                raise bad_param(f"Invalid metadata value for {key}", param=f"{param}[{key}]")
        if len(value) > 50:
            raise bad_param("Metadata can have at most 50 keys.", param=param)
        return dict(value)


class List(Spec):
    def __init__(self, item: Spec, *, max_items: int = 100) -> None:
        self.item = item
        self.max_items = max_items

    def check(self, value: Any, param: str) -> Any:
        if value == "":
            return []
        if isinstance(value, dict) and not value:
            return []
        if not isinstance(value, list):
            raise bad_param(f"Invalid array: {param} must be an array", param=param)
        if len(value) > self.max_items:
            raise bad_param(
                f"Invalid array: {param} can have at most {self.max_items} items", param=param
            )
        return [self.item.check(v, f"{param}[{i}]") for i, v in enumerate(value)]


class Hash(Spec):
    def __init__(self, fields: Mapping[str, Spec] | None = None, **kwargs: Spec) -> None:
        self.fields: dict[str, Spec] = {**(fields or {}), **kwargs}

    def check(self, value: Any, param: str) -> Any:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise bad_param(f"Invalid object: {param} must be a hash", param=param)
        return validate(self, value, prefix=param)


class IntOrRange(Spec):
    """``created=123`` or ``created[gte]=123`` as in list filters."""

    def check(self, value: Any, param: str) -> Any:
        if isinstance(value, dict):
            return validate(Hash(gt=Int(), gte=Int(), lt=Int(), lte=Int()), value, prefix=param)
        return {"eq": Int().check(value, param)}


class OneOf(Spec):
    """A union (``cancel_at``: a timestamp or a keyword): the first spec that accepts wins."""

    def __init__(self, *choices: Spec) -> None:
        self.choices = choices

    def check(self, value: Any, param: str) -> Any:
        for choice in self.choices[:-1]:
            try:
                return choice.check(value, param)
            except StripeError:
                continue
        return self.choices[-1].check(value, param)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else type(value).__name__


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def validate(spec: Hash, raw: Mapping[str, Any], *, prefix: str = "") -> Obj:
    """Checked and converted parameters; unknown and missing ones are Stripe errors."""
    for key in raw:
        if key not in spec.fields:
            name = _name(prefix, key)
            raise bad_param(
                f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
            )
    result: Obj = {}
    for key, field in spec.fields.items():
        name = _name(prefix, key)
        if key not in raw:
            if field.required:
                raise bad_param(
                    f"Missing required param: {name}.", param=name, code="parameter_missing"
                )
            continue
        result[key] = field.check(raw[key], name)
    return result


def need(params: Mapping[str, Any], names: Iterable[str], *, prefix: str = "") -> None:
    """Parameters that are required only in some combinations."""
    for key in names:
        if params.get(key) in (None, ""):
            name = _name(prefix, key)
            raise bad_param(
                f"Missing required param: {name}.", param=name, code="parameter_missing"
            )


LIST_PARAMS: dict[str, Spec] = {
    "limit": Int(minimum=1, maximum=100),
    "starting_after": Str(),
    "ending_before": Str(),
}


def merge_metadata(current: Mapping[str, str] | None, update: Mapping[str, str] | None) -> Obj:
    if update is None:
        return {}
    merged = dict(current or {})
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
