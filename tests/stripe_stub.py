"""A scripted Stripe API on a local port, for running the real SDK in tests.

Tests declare the answers (``stub.on("POST", "/v1/customers", body)``); the
server records every request with its decoded form parameters, so a test
asserts exactly what our gateway sent. A request with no declared answer
gets a 400 and is listed in ``unexpected``; the fixture fails the test then.
Every request and every successful answer also goes to ``conformance``
(when set): our requests must be ones Stripe accepts, the scripted answers
objects Stripe could send.

``delay=`` makes a route answer late, as a slow Stripe would (the wait ends
early when the server stops, so a test never waits it out).
``remember_idempotency_keys()`` makes the stub store each POST's answer under
its ``Idempotency-Key`` and replay it, failures included, as Stripe does for
24 hours.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fiko_billing.emulator.wire import StripeError, decode_form
from fiko_billing.testing import payloads
from fiko_billing.testing.conformance import ConformanceLog


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    #: The form as sent (query string for GET/DELETE, body for POST).
    form: str = ""

    def nested(self) -> dict[str, Any] | None:
        """The form decoded into hashes and lists, as Stripe reads it."""
        try:
            return decode_form(self.form)
        except StripeError:
            return None


Answer = tuple[int, dict[str, Any]] | dict[str, Any]
Responder = Callable[[Recorded], Answer]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    responder: Responder
    times: int | None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    calls: int = 0


@dataclass
class StripeStub:
    url: str = ""
    routes: list[Route] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    unexpected: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    conformance: ConformanceLog | None = None
    #: Conformance checks of what was sent and answered, run after the answer is
    #: out (``check_conformance``): the first check of a route compiles the SDK's
    #: types, which must not count against a caller's time budget.
    deferred: list[Callable[[], None]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    #: Idempotency key -> (params, answer), once ``remember_idempotency_keys()`` is called.
    stored: dict[str, tuple[dict[str, str], tuple[int, dict[str, Any]]]] | None = None

    def on(
        self,
        method: str,
        path: str,
        answer: Answer | Responder,
        *,
        status: int = 200,
        times: int | None = None,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> Route:
        """Answer ``method path`` (an anchored regex) with a body, ``(status, body)``,
        or a callable of the recorded request, ``delay`` seconds late, with extra
        response ``headers``."""
        if callable(answer):
            responder = answer
        elif isinstance(answer, tuple):
            responder = lambda _r, a=answer: a  # noqa: E731
        else:
            responder = lambda _r, a=answer, s=status: (s, a)  # noqa: E731
        route = Route(
            method.upper(), re.compile(f"^{path}$"), responder, times, delay, dict(headers or {})
        )
        with self.lock:
            # Newest first, so a test can override a default answer.
            self.routes.insert(0, route)
        return route

    def check_conformance(self) -> None:
        """Run the conformance checks of every request so far, and of its answer."""
        with self.lock:
            checks, self.deferred = self.deferred, []
        for check in checks:
            check()

    def calls(self, method: str, path: str) -> list[Recorded]:
        pattern = re.compile(f"^{path}$")
        return [r for r in self.requests if r.method == method.upper() and pattern.match(r.path)]

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("POST", "DELETE")]

    def remember_idempotency_keys(self) -> None:
        """From now on, replay the stored answer to a POST that repeats a key."""
        self.stored = {}

    def answer(self, recorded: Recorded) -> tuple[int, dict[str, Any], dict[str, str]]:
        key = recorded.headers.get("idempotency-key")
        params = recorded.nested()
        conformance = self.conformance
        with self.lock:
            self.requests.append(recorded)
            if conformance is not None:
                self.deferred.append(
                    lambda: conformance.request(recorded.method, recorded.path, params)
                )
            if self.stored is not None and key in self.stored:
                params, stored = self.stored[key]
                if params != recorded.params:
                    return (
                        400,
                        payloads.error(
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                            type="idempotency_error",
                        ),
                        {},
                    )
                return (*stored, {"Idempotent-Replayed": "true"})
            for route in self.routes:
                if route.method != recorded.method or not route.pattern.match(recorded.path):
                    continue
                if route.times is not None and route.calls >= route.times:
                    continue
                route.calls += 1
                break
            else:
                self.unexpected.append(recorded)
                return (
                    400,
                    payloads.error(
                        f"stub: no answer for {recorded.method} {recorded.path}",
                        code="stub_unrouted",
                    ),
                    {},
                )
        if route.delay:
            self.stopping.wait(route.delay)
        result = route.responder(recorded)
        reply = result if isinstance(result, tuple) else (200, result)
        if conformance is not None:
            with self.lock:
                self.deferred.append(
                    lambda: conformance.response(recorded.method, recorded.path, params, *reply)
                )
        if self.stored is not None and key is not None and recorded.method == "POST":
            with self.lock:
                self.stored.setdefault(key, (dict(recorded.params), reply))
        return (*reply, route.headers)


def _handler(stub: StripeStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            params.update(parse_qsl(body, keep_blank_values=True))
            recorded = Recorded(
                method=self.command,
                path=parts.path,
                params=params,
                headers={k.lower(): v for k, v in self.headers.items()},
                form=body if self.command == "POST" else parts.query,
            )
            status, answer, headers = stub.answer(recorded)
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_stub{len(stub.requests):06d}")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped waiting (a timeout under test)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class StubServer:
    def __init__(self) -> None:
        self.stub = StripeStub()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.stub))
        self.httpd.daemon_threads = True
        self.stub.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> StripeStub:
        self.thread.start()
        return self.stub

    def __exit__(self, *exc: object) -> None:
        self.stub.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
