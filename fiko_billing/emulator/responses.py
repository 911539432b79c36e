"""What a handler answers: status, headers and body, independent of the server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fiko_billing.emulator.wire import dumps


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, dumps(payload), {"Content-Type": "application/json", **(headers or {})}
    )


def html_response(status: int, markup: str) -> Response:
    return Response(status, markup.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})


def redirect(location: str) -> Response:
    return Response(303, b"", {"Location": location})
