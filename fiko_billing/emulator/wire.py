"""Stripe's wire format: nested form bodies, error JSON, list pages."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

Obj = dict[str, Any]

DOC_URL = "https://docs.stripe.com/error-codes/{}"
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


class StripeError(Exception):
    """An error answered in Stripe's JSON shape.

    ``replayable`` is False for failures found before the endpoint ran
    (bad parameters, a missing key): Stripe does not store those under an
    idempotency key, so a corrected retry with the same key is allowed.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: Obj | None = None,
        replayable: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.replayable = replayable

    def body(self, request_id: str) -> Obj:
        error: Obj = {"type": self.type, "code": self.code, "message": self.message}
        error["param"] = self.param
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        error["doc_url"] = DOC_URL.format(self.code.replace("_", "-")) if self.code else None
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def bad_param(message: str, *, param: str, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code, replayable=False)


def missing(kind: str, object_id: str, *, param: str = "id") -> StripeError:
    return StripeError(
        404 if param == "id" else 400,
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


# ---------------------------------------------------------------------- form bodies


def decode_form(body: str) -> Obj:
    """``a[b][0][c]=v`` pairs into nested dicts and lists.

    The SDK always writes list positions (``items[0][price]``); ``a[]=`` is
    accepted too because hand-written clients (curl, HTML forms) use it.
    """
    root: Obj = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise bad_param(f"Invalid parameter name: {key}", param=key)
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _insert(root, path, value, key)
    return _listify(root)  # type: ignore[no-any-return]


def _insert(node: Obj, path: list[str], value: str, key: str) -> None:
    for part in path[:-1]:
        child = node.setdefault(part or str(len(node)), {})
        if not isinstance(child, dict):
            raise bad_param(f"Invalid parameter: {key} mixes a value and a hash", param=key)
        node = child
    last = path[-1] if path[-1] != "" else str(len(node))
    if isinstance(node.get(last), dict):
        raise bad_param(f"Invalid parameter: {key} mixes a value and a hash", param=key)
    node[last] = value


def _listify(node: Any) -> Any:
    """Dicts whose keys are exactly 0..n-1 become lists (the form's arrays)."""
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        indexes = sorted(int(k) for k in converted)
        if indexes == list(range(len(indexes))):
            return [converted[str(i)] for i in indexes]
    return converted


# ---------------------------------------------------------------------- lists


def page(
    items: Sequence[Obj],
    *,
    url: str,
    limit: int | None,
    starting_after: str | None,
    ending_before: str | None,
    kind: str,
) -> Obj:
    """One page of a newest-first list, with Stripe's cursor semantics."""
    size = 10 if limit is None else limit
    ids = [item["id"] for item in items]
    if starting_after is not None:
        if starting_after not in ids:
            raise missing(kind, starting_after, param="starting_after")
        start = ids.index(starting_after) + 1
        chosen = items[start : start + size]
        has_more = start + size < len(items)
    elif ending_before is not None:
        if ending_before not in ids:
            raise missing(kind, ending_before, param="ending_before")
        end = ids.index(ending_before)
        chosen = items[max(0, end - size) : end]
        has_more = end - size > 0
    else:
        chosen = items[:size]
        has_more = len(items) > size
    return {"object": "list", "data": list(chosen), "has_more": has_more, "url": url}


def list_object(items: Sequence[Obj], url: str) -> Obj:
    """A complete embedded list, as in ``subscription.items`` or ``invoice.lines``."""
    return {"object": "list", "data": list(items), "has_more": False, "url": url}


def dumps(payload: Any) -> bytes:
    return (json.dumps(payload, indent=2) + "\n").encode("utf-8")
