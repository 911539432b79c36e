"""JSON as it may come from the network: parsed strictly, bounded, never a crash.

Python's ``json`` accepts things a database or another JSON parser will not:
``NaN`` and ``Infinity``, numbers that overflow to infinity, strings holding
half of a surrogate pair; and deep nesting makes it raise ``RecursionError``.
``loads`` turns every one of these into ``JSONRejected`` (a ``ValueError``),
so a caller answers a 4xx instead of a 500.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

#: The deepest nesting accepted. Stripe's deepest objects (an invoice line's
#: proration details inside an expanded event) stay far below it.
MAX_DEPTH = 64


class JSONRejected(ValueError):
    """The text is not JSON that this package accepts; the message says why."""


def _constant(name: str) -> NoReturn:
    raise JSONRejected(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRejected(f"the number {text[:40]} is too large")
    return value


#: A ``\\u`` escape of a UTF-16 surrogate (U+D800 to U+DFFF), the only way JSON
#: decoded from valid UTF-8 can hold one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def loads(body: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``body`` decoded as strict JSON, nested at most ``max_depth`` levels."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise JSONRejected(f"the body is not UTF-8 ({exc.reason})") from exc
    # Strict UTF-8 decoding refuses encoded surrogates, so in text decoded from
    # bytes only an escape can make one: without such an escape, the walk below
    # need not look at every string (most of an event's members).
    texts = not isinstance(body, bytes) or _SURROGATE_ESCAPE.search(text) is not None
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise JSONRejected(f"nested deeper than {max_depth} levels") from exc
    except JSONRejected:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer of over 4300 digits
        raise JSONRejected(str(exc)[:200]) from exc
    _check_tree(data, max_depth, texts=texts)
    return data


def _check_tree(data: object, max_depth: int, *, texts: bool = True) -> None:
    """Depth and (with ``texts``) text of every member, without recursion (the tree
    may be deep)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > max_depth:
                raise JSONRejected(f"nested deeper than {max_depth} levels")
            for key, value in node.items():
                if texts:
                    _check_text(key)
                if texts or isinstance(value, (dict, list)):
                    stack.append((value, depth + 1))
        elif isinstance(node, list):
            if depth > max_depth:
                raise JSONRejected(f"nested deeper than {max_depth} levels")
            stack.extend(
                (value, depth + 1) for value in node if texts or isinstance(value, (dict, list))
            )
        elif isinstance(node, str):
            _check_text(node)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JSONRejected("a string holds an unpaired surrogate (\\ud800-\\udfff)") from exc


def contains_nul(data: object) -> bool:
    """Whether any key or string in ``data`` holds U+0000, which PostgreSQL text refuses."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            if any("\x00" in key for key in node):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
