"""``ConformanceLog``: what a running emulator (or a stub) received and sent, checked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from fiko_billing.testing.conformance.checks import Violation, check_request
from fiko_billing.testing.conformance.object_checks import Reads, check_event, check_object

if TYPE_CHECKING:
    from fiko_billing.emulator import Emulator
    from fiko_billing.emulator.api import Exchange


class ConformanceLog:
    """Collects departures from the SDK's types; ``assert_clean()`` fails a test on any.

    ``rejected_requests`` decides whether requests the server answered with an
    error are checked too: a product's requests must always conform, while an
    emulator test sends bad ones on purpose to see them refused.
    """

    def __init__(
        self,
        *,
        reads: Reads | Mapping[str, Iterable[str]] | None = None,
        rejected_requests: bool = True,
        complete_objects: bool = True,
    ) -> None:
        self.reads = reads if isinstance(reads, Reads) or reads is None else Reads(reads)
        self.rejected_requests = rejected_requests
        self.complete_objects = complete_objects
        self.violations: list[Violation] = []
        self.requests = 0
        self.objects = 0
        self._lock = threading.Lock()

    def attach(self, emulator: Emulator) -> ConformanceLog:
        emulator.observe(exchanges=self.exchange, events=self.event)
        return self

    def _add(self, found: list[Violation]) -> None:
        with self._lock:
            self.violations.extend(found)

    # ------------------------------------------------------------------ what travels

    def request(
        self, method: str, path: str, params: Mapping[str, Any] | None, status: int = 200
    ) -> None:
        with self._lock:
            self.requests += 1
        if status >= 400 and not self.rejected_requests:
            return
        if params is None:
            self._add([Violation(f"{method} {path}", "", "the form body could not be read")])
            return
        self._add(check_request(method, path, params))

    def response(
        self, method: str, path: str, params: Mapping[str, Any] | None, status: int, body: Any
    ) -> None:
        if not 200 <= status < 300:
            return
        if isinstance(body, bytes | str):
            body = json.loads(body)
        expand = (params or {}).get("expand") or []
        if isinstance(expand, str):
            expand = [expand]
        with self._lock:
            self.objects += 1
        self._add(
            check_object(
                body,
                expand=expand,
                where=f"{method} {path} answer",
                reads=self.reads,
                complete=self.complete_objects,
            )
        )

    def exchange(self, exchange: Exchange) -> None:
        self.request(exchange.method, exchange.path, exchange.params, exchange.status)
        self.response(
            exchange.method, exchange.path, exchange.params, exchange.status, exchange.body
        )

    def event(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            self.objects += 1
        self._add(check_event(dict(event), reads=self.reads))

    # ------------------------------------------------------------------ verdict

    def report(self) -> str:
        lines = sorted({str(v) for v in self.violations})
        return "\n".join(lines)

    def assert_clean(self) -> None:
        if self.violations:
            raise AssertionError(
                f"{len(self.violations)} departure(s) from the stripe SDK's types:\n"
                + self.report()
            )
