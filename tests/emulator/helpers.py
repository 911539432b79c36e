"""A form-posting client for the hosted pages and a local webhook receiver."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

CARD_OK = "4242 4242 4242 4242"
CARD_3DS = "4000 0025 0000 3155"
CARD_INSUFFICIENT = "4000 0000 0000 9995"
CARD_FAILS_LATER = "4000 0000 0000 0341"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))


@dataclass
class Page:
    status: int
    body: str
    location: str | None


def _open(request: urllib.request.Request) -> Page:
    try:
        with _opener.open(request, timeout=10) as response:
            return Page(
                response.status, response.read().decode(), response.headers.get("Location")
            )
    except urllib.error.HTTPError as error:
        with error:
            return Page(error.code, error.read().decode(), error.headers.get("Location"))


def get_page(url: str) -> Page:
    return _open(urllib.request.Request(url))  # noqa: S310 - local test URLs


def post_form(url: str, fields: dict[str, str]) -> Page:
    data = urllib.parse.urlencode(fields).encode()
    return _open(urllib.request.Request(url, data=data, method="POST"))  # noqa: S310 - local test URLs


def pay(url: str, card: str = CARD_OK, **extra: str) -> Page:
    fields = {
        "action": "pay",
        "card_number": card,
        "card_expiry": "12 / 34",
        "card_cvc": "123",
        "email": "buyer@example.com",
        **extra,
    }
    return post_form(url, fields)


def post_json(url: str, payload: dict[str, Any] | None = None, method: str = "POST") -> Page:
    import json

    data = json.dumps(payload or {}).encode()
    request = urllib.request.Request(  # noqa: S310 - local test URLs
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    return _open(request)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every request.

    ``answer`` picks the status for each request (200 unless told otherwise).
    """

    answer: Callable[[Received], int] = lambda received: 200
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                item = Received({k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.received.append(item)
                status = receiver.answer(item)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhook"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [r.body for r in self.received]


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def raw_api(
    base: str,
    method: str,
    path: str,
    body: str = "",
    headers: dict[str, str] | None = None,
    *,
    key: str | None = "sk_test_emulator",
) -> Raw:
    """One API call without the SDK, to see the exact bytes and headers."""
    all_headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    if key is not None:
        all_headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(  # noqa: S310 - local test URLs
        base + path,
        data=body.encode() if method == "POST" else None,
        method=method,
        headers=all_headers,
    )
    try:
        with _opener.open(request, timeout=10) as response:
            return Raw(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Raw(error.code, dict(error.headers.items()), error.read())


CARD_ALWAYS_AUTHENTICATE = "4000 0027 6000 3184"


def subscribe(sdk: Any, price_id: str, card: str = CARD_OK, **extra: Any) -> str:
    """A subscription paid on the hosted Checkout page; returns its id."""
    session = sdk.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": price_id, "quantity": 1}],
            **extra,
        }
    )
    page = pay(session.url, card=card)
    if page.status == 200 and 'value="complete"' in page.body:
        post_form(f"{session.url}/3ds", {"outcome": "complete"})
    sub_id = sdk.v1.checkout.sessions.retrieve(session.id).subscription
    assert isinstance(sub_id, str), page.body
    return sub_id


def events_of(emulator: Any, event_type: str) -> list[dict[str, Any]]:
    """The emulator's events of one type, oldest first."""
    return [e for e in reversed(emulator.objects("event")) if e["type"] == event_type]
