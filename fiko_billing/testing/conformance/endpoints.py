"""Which SDK service method answers a request, and the params type it declares.

The SDK's service modules name each endpoint's method, path template and
``params`` TypedDict; they are read once, with ``ast``, without running them.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import stripe

from fiko_billing.testing.conformance.schema import COMPILE_LOCK, Obj, object_node


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    regex: re.Pattern[str]
    literal_segments: int
    params_module: str | None
    params_name: str | None

    def params(self) -> Obj | None:
        if self.params_module is None or self.params_name is None:
            return None
        cls = getattr(importlib.import_module(self.params_module), self.params_name)
        return object_node(cls)


def _template_regex(template: str) -> tuple[re.Pattern[str], int]:
    literal = 0
    parts = []
    for segment in template.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            parts.append("[^/]+")
        else:
            literal += 1
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts)), literal


def _service_files() -> Iterator[Path]:
    root = Path(stripe.__file__).parent
    for path in sorted(root.rglob("_*_service.py")):
        if "v2" not in path.relative_to(root).parts:
            yield path


def _request_call(function: ast.FunctionDef) -> tuple[str, str] | None:
    for node in ast.walk(function):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr != "_request" or len(node.args) < 2:
            continue
        method, path = node.args[0], node.args[1]
        if isinstance(path, ast.Call) and isinstance(path.func, ast.Attribute):
            path = path.func.value  # "/v1/x/{id}".format(...)
        if isinstance(method, ast.Constant) and isinstance(path, ast.Constant):
            return str(method.value).upper(), str(path.value)
    return None


def _params_name(function: ast.FunctionDef) -> str | None:
    for arg in function.args.args + function.args.kwonlyargs:
        if arg.arg != "params" or arg.annotation is None:
            continue
        text = ast.unparse(arg.annotation)
        found = re.search(r"[\"']?(\w+Params)[\"']?", text)
        return found.group(1) if found else None
    return None


@cache
def endpoints() -> tuple[Endpoint, ...]:
    """Every ``/v1`` endpoint of the SDK's services, most specific path first."""
    found: dict[tuple[str, str], Endpoint] = {}
    for path in _service_files():
        with COMPILE_LOCK:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        imports: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    imports[alias.asname or alias.name] = node.module
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            call = _request_call(node)
            if call is None or not call[1].startswith("/v1/"):
                continue
            method, template = call
            params = _params_name(node)
            regex, literal = _template_regex(template)
            found.setdefault(
                (method, template),
                Endpoint(method, template, regex, literal, imports.get(params or ""), params),
            )
    return tuple(sorted(found.values(), key=lambda e: (-e.literal_segments, e.template)))


def endpoint_for(method: str, path: str) -> Endpoint | None:
    for candidate in endpoints():
        if candidate.method == method.upper() and candidate.regex.fullmatch(path):
            return candidate
    return None
