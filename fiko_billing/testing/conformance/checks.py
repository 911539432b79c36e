"""Checking requests against the schema of the installed SDK (objects: ``object_checks``).

Requests are checked as they travel: form-encoded, so every leaf is a string
(``amount=500``, ``cancel_at_period_end=true``) and lists come as indexed
hashes (``items[0][price]``), decoded by the emulator's own form reader.
Objects are checked as Stripe's JSON: only declared fields, values of the
declared types, includable fields and expanded relations only where the
request asked for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any

from fiko_billing.testing.conformance.endpoints import endpoint_for
from fiko_billing.testing.conformance.schema import (
    Array,
    Enum,
    Expandable,
    ListOf,
    Mapping,
    Node,
    Nullable,
    Obj,
    OneOf,
    Scalar,
)

_INT = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True)
class Violation:
    """One way a request or an object departs from the SDK's types."""

    where: str
    path: str
    problem: str

    def __str__(self) -> str:
        at = f" {self.path}" if self.path else ""
        return f"{self.where}:{at} {self.problem}"


# ---------------------------------------------------------------------- requests


def check_request(method: str, path: str, params: MappingABC[str, Any]) -> list[Violation]:
    """What is wrong with a form-decoded request for the SDK's endpoint of this path."""
    endpoint = endpoint_for(method, path)
    where = f"{method.upper()} {path}"
    if endpoint is None:
        return [Violation(where, "", "no such endpoint in the stripe SDK")]
    where = f"{endpoint.method} {endpoint.template}"
    schema = endpoint.params()
    if schema is None:
        if params:
            return [Violation(where, "", f"takes no parameters, got {sorted(params)}")]
        return []
    found: list[Violation] = []
    _param_hash(schema, params, "", where, found)
    return found


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _param_hash(
    schema: Obj, value: MappingABC[str, Any], prefix: str, where: str, found: list[Violation]
) -> None:
    fields = schema.fields
    for key, item in value.items():
        name = _name(prefix, key)
        if key not in fields:
            found.append(Violation(where, name, "unknown parameter (parameter_unknown)"))
            continue
        _param(fields[key], item, name, where, found)
    for key in sorted(schema.required - set(value)):
        found.append(Violation(where, _name(prefix, key), "required parameter missing"))


def _param(node: Node, value: Any, name: str, where: str, found: list[Violation]) -> None:
    problem = _param_problem(node, value, name, where)
    if problem is not None:
        found.extend(problem)


def _param_problem(node: Node, value: Any, name: str, where: str) -> list[Violation] | None:
    """None when ``value`` fits ``node``, else the violations (one at least)."""
    bad = [Violation(where, name, f"{show(value)} is not {describe(node)}")]
    if isinstance(node, Nullable):
        return None if value == "" else _param_problem(node.inner, value, name, where)
    if isinstance(node, OneOf):
        results = [_param_problem(option, value, name, where) for option in node.options]
        if any(r is None for r in results):
            return None
        # The option whose shape matched (a hash for a hash) explains best.
        for option, result in zip(node.options, results, strict=True):
            if isinstance(value, dict) and isinstance(option, Obj | Mapping) and result:
                return result
        return bad
    if isinstance(node, Scalar):
        ok = {
            "any": True,
            "str": isinstance(value, str),
            "int": isinstance(value, str) and bool(_INT.fullmatch(value)),
            "float": isinstance(value, str) and bool(_NUMBER.fullmatch(value)),
            "decimal": isinstance(value, str) and bool(_NUMBER.fullmatch(value)),
            "bool": value in ("true", "false"),
        }[node.kind]
        return None if ok else bad
    if isinstance(node, Enum):
        allowed = {form_of(v) for v in node.values}
        if isinstance(value, str) and value in allowed:
            return None
        choices = ", ".join(sorted(allowed))
        return [Violation(where, name, f"{show(value)} is not one of: {choices}")]
    if isinstance(node, Array):
        if not isinstance(value, list):
            return bad
        found: list[Violation] = []
        for index, item in enumerate(value):
            _param(node.item, item, f"{name}[{index}]", where, found)
        return found or None
    if isinstance(node, Mapping):
        if not isinstance(value, dict):
            return bad
        found = []
        for key, item in value.items():
            _param(node.value, item, _name(name, key), where, found)
        return found or None
    if isinstance(node, Obj):
        if not isinstance(value, dict):
            return bad
        found = []
        _param_hash(node, value, name, where, found)
        return found or None
    return bad


def form_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return type(value).__name__


def describe(node: Node) -> str:
    if isinstance(node, Scalar):
        return {"any": "anything", "decimal": "a decimal"}.get(node.kind, f"a {node.kind}")
    if isinstance(node, Enum):
        return "one of " + ", ".join(sorted(form_of(v) for v in node.values))
    if isinstance(node, Nullable):
        return describe(node.inner) + " or null"
    if isinstance(node, OneOf):
        return " or ".join(describe(o) for o in node.options)
    if isinstance(node, Array):
        return "an array"
    if isinstance(node, ListOf):
        return "a list object"
    if isinstance(node, Obj):
        return f"a {node.name} hash"
    if isinstance(node, Mapping):
        return "a hash"
    if isinstance(node, Expandable):
        return "an id or an expanded object"
    return "valid"
