"""The installed stripe SDK's types, turned into a small schema we can check JSON against.

The SDK is generated from Stripe's OpenAPI description for one API version:
its resource classes (``stripe.Invoice``...) declare every field an object
can carry, its ``params`` TypedDicts every parameter an endpoint accepts, and
its services the path of each endpoint. Nothing here is written by hand
except the list of *includable* fields, which the SDK's types cannot express.
"""

from __future__ import annotations

import ast
import collections.abc
import decimal
import importlib
import inspect
import sys
import threading
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

from stripe._api_version import _ApiVersion
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._request_options import RequestOptions
from stripe._stripe_object import StripeObject, UntypedStripeObject

#: The API version the installed SDK was generated for.
SDK_API_VERSION: str = _ApiVersion.CURRENT

#: Fields that an object carries only when the request expands them ("includable"
#: in Stripe's reference): never in webhook payloads, never by default.
INCLUDABLE: frozenset[tuple[str, str]] = frozenset(
    {
        ("invoice", "payments"),
        ("invoice", "confirmation_secret"),
        ("charge", "refunds"),
        ("checkout.session", "line_items"),
        ("payment_link", "line_items"),
        ("quote", "line_items"),
    }
)

# Python 3.13's typing imports lazily while an annotation is evaluated, so the
# restricted builtins must still let it import.
# The schema is compiled lazily, on first use, and tests post events from
# several threads at once. CPython's parser keeps process-wide state (two
# threads in ``ast.parse`` can fail with "AST constructor recursion depth
# mismatch"), and a half-compiled node must not be seen: one lock for both.
COMPILE_LOCK = threading.RLock()

_BUILTINS: dict[str, Any] = {
    **{t.__name__: t for t in (bool, dict, float, int, list, str, tuple)},
    "__import__": __import__,
}
_REQUEST_OPTIONS = frozenset(RequestOptions.__annotations__)
_TYPING_NAMES: dict[str, Any] = {
    name: getattr(typing, name)
    for name in ("Any", "Dict", "List", "Literal", "Mapping", "Optional", "Union")
}


# ---------------------------------------------------------------------- schema nodes


class Node:
    """One type of the SDK, reduced to what a JSON value of it may be."""


@dataclass(eq=False)
class Scalar(Node):
    kind: str  # "str", "int", "float", "bool", "decimal", "any"


@dataclass(eq=False)
class Enum(Node):
    """A Literal, or an "open" enum (``Literal[...] | str``) held to its listed values."""

    values: frozenset[Any]


@dataclass(eq=False)
class Nullable(Node):
    inner: Node


@dataclass(eq=False)
class OneOf(Node):
    options: tuple[Node, ...]


@dataclass(eq=False)
class Array(Node):
    item: Node


@dataclass(eq=False)
class Mapping(Node):
    value: Node


@dataclass(eq=False)
class Expandable(Node):
    """An id, or the object itself when the request expanded it."""

    target: Node


@dataclass(eq=False)
class ListOf(Node):
    """Stripe's list object: ``{"object": "list", "data": [...], "has_more", "url"}``."""

    item: Node


@dataclass(eq=False)
class Obj(Node):
    """A resource or nested hash; its fields are compiled on first use (types recurse)."""

    name: str
    source: type
    object_name: str | None = None
    _fields: dict[str, Node] | None = field(default=None, repr=False)
    _required: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def fields(self) -> dict[str, Node]:
        if self._fields is None:
            self._compile()
        return self._fields or {}

    @property
    def required(self) -> frozenset[str]:
        """Fields that are always there: non-nullable in a resource, required in params."""
        if self._fields is None:
            self._compile()
        return self._required

    def _compile(self) -> None:
        with COMPILE_LOCK:
            if self._fields is None:
                self._compile_locked()

    def _compile_locked(self) -> None:
        fields: dict[str, Node] = {}
        required: set[str] = set()
        if _is_typeddict(self.source):
            own = dict(_annotations(self.source))
            for name, annotation, module in own.values():
                if name in _REQUEST_OPTIONS:
                    continue
                fields[name] = node_for(annotation, module)
            keys: frozenset[str] = cast(Any, self.source).__required_keys__
            required = {k for k in keys if k in fields}
        else:
            for name, annotation, module in _annotations(self.source).values():
                node = node_for(annotation, module)
                fields[name] = node
                if not isinstance(node, Nullable):
                    required.add(name)
        # _fields last: other threads read it, unlocked, as "compiled".
        self._required = frozenset(required)
        self._fields = fields


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "__required_keys__")


def _annotations(cls: type) -> dict[str, tuple[str, Any, str]]:
    """``name -> (name, annotation, defining module)`` over the class and its bases."""
    found: dict[str, tuple[str, Any, str]] = {}
    for klass in reversed(cls.__mro__):
        if klass in (StripeObject, object) or klass.__module__ == "typing":
            continue
        for name, annotation in inspect.get_annotations(klass).items():
            if name.startswith("_") or name == "OBJECT_NAME":
                continue
            if typing.get_origin(annotation) is cast(Any, typing.ClassVar):
                continue
            found[name] = (name, annotation, klass.__module__)
    return found


# ---------------------------------------------------------------------- annotations


class _Names(dict[str, Any]):
    """A module's names, its ``TYPE_CHECKING`` imports, and typing's, for evaluating strings."""

    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = module

    def __missing__(self, name: str) -> Any:
        namespace = vars(sys.modules[self.module])
        if name in namespace:
            return namespace[name]
        if name in _TYPING_NAMES:
            return _TYPING_NAMES[name]
        found = _type_checking_imports(self.module).get(name)
        if found is None:
            raise KeyError(name)
        return getattr(importlib.import_module(found[0]), found[1])


@cache
def _type_checking_imports(module: str) -> dict[str, tuple[str, str]]:
    """``from x import Name`` lines under ``if TYPE_CHECKING:``, which exist only for mypy."""
    path = getattr(sys.modules[module], "__file__", None)
    if not path:
        return {}
    with COMPILE_LOCK:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    found: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module, alias.name)
    return found


def _evaluate(text: str, module: str) -> Any:
    return eval(text, {"__builtins__": _BUILTINS}, _Names(module))  # noqa: S307 - SDK annotations


def node_for(annotation: Any, module: str) -> Node:
    """The schema node of one annotation found in ``module``."""
    return _node_for(annotation, module)


def _node_for(tp: Any, module: str) -> Node:
    if isinstance(tp, str):
        tp = _evaluate(tp, module)
    if isinstance(tp, typing.ForwardRef):
        tp = _evaluate(tp.__forward_arg__, module)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is typing.Any:
        return Scalar("any")
    if origin in (typing.Union, types.UnionType):
        return _union(args, module)
    if origin is typing.Literal:
        return Enum(frozenset(args))
    if origin in (typing.NotRequired, typing.Required):
        return _node_for(args[0], module)
    if origin in (list, tuple):
        return Array(_node_for(args[0], module) if args else Scalar("any"))
    if origin in (dict, collections.abc.Mapping):
        return Mapping(_node_for(args[1], module) if args else Scalar("any"))
    if isinstance(origin, type) and issubclass(origin, ListObject):
        return ListOf(_node_for(args[0], module))
    if isinstance(origin, type) and issubclass(origin, UntypedStripeObject):
        return Mapping(_node_for(args[0], module) if args else Scalar("any"))
    if tp is UntypedStripeObject:
        return Mapping(Scalar("any"))
    if tp is str:
        return Scalar("str")
    if tp is bool:
        return Scalar("bool")
    if tp is int:
        return Scalar("int")
    if tp is float:
        return Scalar("float")
    if tp is decimal.Decimal:
        return Scalar("decimal")
    if tp is type(None):
        return Nullable(Scalar("any"))
    if isinstance(tp, type) and (issubclass(tp, StripeObject) or _is_typeddict(tp)):
        return object_node(tp)
    if tp in (dict, list):
        return Mapping(Scalar("any")) if tp is dict else Array(Scalar("any"))
    raise TypeError(f"cannot read the SDK annotation {tp!r} in {module}")


def _union(args: tuple[Any, ...], module: str) -> Node:
    nullable = any(a is type(None) for a in args)
    members = [a for a in args if a is not type(None)]
    literals: set[Any] = set()
    rest: list[Any] = []
    for member in members:
        resolved = (
            _evaluate(member.__forward_arg__, module)
            if isinstance(member, typing.ForwardRef)
            else member
        )
        if typing.get_origin(resolved) is typing.Literal:
            literals.update(typing.get_args(resolved))
        else:
            rest.append(resolved)
    has_str = str in rest
    objects = [r for r in rest if isinstance(r, type) and issubclass(r, StripeObject)]
    options: list[Node] = []
    if has_str and objects:
        # ExpandableField[X] is Union[str, X]: an id unless expanded.
        options.append(Expandable(_node_for(objects[0], module)))
        rest = [r for r in rest if r is not str and r not in objects]
    elif has_str and literals - {""}:
        # SDK 16 types enums as Literal[...] | str so that new values do not
        # break old code; we hold requests and our own objects to the list.
        rest = [r for r in rest if r is not str]
    if literals:
        options.append(Enum(frozenset(literals)))
    options.extend(_node_for(r, module) for r in rest)
    node = options[0] if len(options) == 1 else OneOf(tuple(options))
    return Nullable(node) if nullable else node


@cache
def object_node(cls: type) -> Obj:
    name = getattr(cls, "OBJECT_NAME", None)
    return Obj(cls.__qualname__, cls, name if isinstance(name, str) else None)


@cache
def resource(object_name: str) -> Obj | None:
    """The schema of a top-level object by its ``object`` value (``"invoice"``)."""
    found = OBJECT_CLASSES.get(object_name)
    if found is None:
        return None
    module, name = found
    return object_node(getattr(importlib.import_module(module), name))
