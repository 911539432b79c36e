"""Objects Stripe sends (answers and events) held to the SDK's resource classes."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any

from fiko_billing.testing.conformance.checks import Violation, describe, show
from fiko_billing.testing.conformance.schema import (
    INCLUDABLE,
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
    resource,
)


def expanded_paths(expand: Iterable[str]) -> frozenset[str]:
    """``expand[]`` values as dotted paths without list steps, with every prefix."""
    paths: set[str] = set()
    for entry in expand:
        segments = [s for s in entry.split(".") if s != "data"]
        for end in range(1, len(segments) + 1):
            paths.add(".".join(segments[:end]))
    return frozenset(paths)


@dataclass(frozen=True)
class Reads:
    """Fields a consumer reads, per object type, as dotted paths (lists stepped through)."""

    fields: MappingABC[str, Iterable[str]]


def check_object(
    value: Any,
    *,
    expand: Iterable[str] = (),
    where: str = "object",
    reads: Reads | None = None,
    complete: bool = True,
) -> list[Violation]:
    """What is wrong with one JSON object (or list page) as Stripe would send it.

    ``expand`` names what the request expanded; ``reads`` adds fields that
    must be present; ``complete`` also asks for every field the SDK never
    declares nullable.
    """
    found: list[Violation] = []
    checker = _ObjectChecker(where, expanded_paths(expand), reads, complete, found)
    if isinstance(value, dict) and value.get("object") == "list":
        checker.list_page(value)
    else:
        checker.top(value)
    return found


def check_event(event: Any, *, reads: Reads | None = None) -> list[Violation]:
    """An event as delivered: its envelope, and its object with nothing expanded."""
    where = f"event {event.get('type')}" if isinstance(event, dict) else "event"
    found = check_object(event, where=where, reads=reads)
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return found
    data = event["data"]
    found.extend(check_object(data.get("object"), where=f"{where} data.object", reads=reads))
    previous = data.get("previous_attributes")
    inner = data.get("object")
    if isinstance(previous, dict) and isinstance(inner, dict):
        schema = resource(str(inner.get("object")))
        if schema is not None:
            for key in previous:
                if key not in schema.fields:
                    found.append(
                        Violation(where, f"data.previous_attributes.{key}", "not a field")
                    )
    return found


class _ObjectChecker:
    def __init__(
        self,
        where: str,
        expanded: frozenset[str],
        reads: Reads | None,
        complete: bool,
        found: list[Violation],
    ) -> None:
        self.where = where
        self.expanded = expanded
        self.reads = reads
        self.complete = complete
        self.found = found

    def fail(self, path: str, problem: str) -> None:
        self.found.append(Violation(self.where, path, problem))

    def list_page(self, value: dict[str, Any]) -> None:
        for key in value:
            if key not in ("object", "data", "has_more", "url", "next_page"):
                self.fail(key, "not a field of a list")
        for index, item in enumerate(value.get("data") or []):
            self._resource(item, f"data[{index}]", "")

    def top(self, value: Any) -> None:
        self._resource(value, "", "")

    def _resource(self, value: Any, shown: str, logical: str) -> None:
        if not isinstance(value, dict):
            self.fail(shown, f"{show(value)} is not an object")
            return
        if value.get("deleted") is True:
            if set(value) - {"id", "object", "deleted"}:
                self.fail(shown, "a deleted object carries only id, object and deleted")
            return
        schema = resource(str(value.get("object")))
        if schema is None:
            self.fail(shown, f"unknown object type {value.get('object')!r}")
            return
        self._object(schema, value, shown, logical)

    def _object(self, schema: Obj, value: dict[str, Any], shown: str, logical: str) -> None:
        fields = schema.fields
        for key, item in value.items():
            path = _join(shown, key)
            where = _join(logical, key)
            if key not in fields:
                self.fail(path, f"not a field of {schema.name} at this API version")
                continue
            if (schema.object_name, key) in INCLUDABLE and where not in self.expanded:
                self.fail(path, "includable: present only when the request expands it")
                continue
            self._value(fields[key], item, path, where)
        if self.complete:
            for key in sorted(schema.required - set(value)):
                if (schema.object_name, key) not in INCLUDABLE:
                    self.fail(_join(shown, key), f"missing (never null in {schema.name})")
        if self.reads is not None and schema.object_name is not None:
            for needed in self.reads.fields.get(schema.object_name, ()):
                self._present(value, needed.split("."), shown, needed)

    def _present(self, value: Any, segments: list[str], shown: str, needed: str) -> None:
        if isinstance(value, list):
            for index, item in enumerate(value):
                self._present(item, segments, f"{shown}[{index}]", needed)
            return
        if not segments or value is None or isinstance(value, str):
            return
        if not isinstance(value, dict):
            return
        key = segments[0]
        if key == "data" and value.get("object") == "list":
            self._present(value.get("data") or [], segments[1:], _join(shown, "data"), needed)
            return
        if key not in value:
            self.fail(_join(shown, key), f"read by the product ({needed}) but absent")
            return
        self._present(value[key], segments[1:], _join(shown, key), needed)

    def _value(self, node: Node, value: Any, shown: str, logical: str) -> None:
        if isinstance(node, Nullable):
            if value is not None:
                self._value(node.inner, value, shown, logical)
            return
        if value is None:
            if not (isinstance(node, Scalar) and node.kind == "any"):
                self.fail(shown, f"null, but {describe(node)} is required")
            return
        if isinstance(node, Scalar | Enum):
            self._leaf(node, value, shown)
        elif isinstance(node, Expandable):
            self._expandable(node, value, shown, logical)
        elif isinstance(node, OneOf):
            self._one_of(node, value, shown, logical)
        elif isinstance(node, Array | Mapping | ListOf):
            self._collection(node, value, shown, logical)
        elif isinstance(node, Obj):
            self._typed_object(node, value, shown, logical)
        else:
            self.fail(shown, "unreadable schema")

    def _leaf(self, node: Scalar | Enum, value: Any, shown: str) -> None:
        if isinstance(node, Enum):
            if value not in node.values:
                self.fail(shown, f"{value!r} is not {describe(node)}")
            return
        ok = {
            "any": True,
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "decimal": isinstance(value, str | int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
        }[node.kind]
        if not ok:
            self.fail(shown, f"{show(value)} is not {describe(node)}")

    def _expandable(self, node: Expandable, value: Any, shown: str, logical: str) -> None:
        if isinstance(value, str):
            return
        if logical not in self.expanded:
            self.fail(shown, "an expanded object where the request did not expand it")
        if isinstance(value, dict) and value.get("deleted") is True:
            return
        self._value(node.target, value, shown, logical)

    def _one_of(self, node: OneOf, value: Any, shown: str, logical: str) -> None:
        trial = [self._fits(option, value, shown, logical) for option in node.options]
        if not any(trial):
            self.fail(shown, f"{show(value)} is not {describe(node)}")
        else:
            chosen = node.options[trial.index(True)]
            self._value(chosen, value, shown, logical)

    def _collection(
        self, node: Array | Mapping | ListOf, value: Any, shown: str, logical: str
    ) -> None:
        if isinstance(node, Array):
            if not isinstance(value, list):
                self.fail(shown, f"{show(value)} is not an array")
                return
            for index, item in enumerate(value):
                self._value(node.item, item, f"{shown}[{index}]", logical)
        elif isinstance(node, Mapping):
            if not isinstance(value, dict):
                self.fail(shown, f"{show(value)} is not a hash")
                return
            for key, item in value.items():
                self._value(node.value, item, _join(shown, key), logical)
        else:
            if not isinstance(value, dict) or value.get("object") != "list":
                self.fail(shown, f"{show(value)} is not a list object")
                return
            for key in value:
                if key not in ("object", "data", "has_more", "url", "total_count"):
                    self.fail(_join(shown, key), "not a field of a list")
            for index, item in enumerate(value.get("data") or []):
                self._value(node.item, item, f"{shown}.data[{index}]", logical)

    def _typed_object(self, node: Obj, value: Any, shown: str, logical: str) -> None:
        if not isinstance(value, dict):
            self.fail(shown, f"{show(value)} is not {describe(node)}")
            return
        if node.object_name is not None and "object" in value:
            actual = resource(str(value["object"]))
            if actual is not None and actual is not node:
                self.fail(shown, f"a {value['object']} where a {node.name} belongs")
                return
        self._object(node, value, shown, logical)

    def _fits(self, node: Node, value: Any, shown: str, logical: str) -> bool:
        trial: list[Violation] = []
        probe = _ObjectChecker(self.where, self.expanded, None, False, trial)
        probe._value(node, value, shown, logical)
        return not trial


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
