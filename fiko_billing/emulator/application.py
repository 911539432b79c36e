"""Every request, whatever the server: ``/v1`` API, hosted pages, ``/_emulator`` control."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from fiko_billing.api_version import PINNED_API_VERSION
from fiko_billing.emulator import control, invoice_page, pages, portal_page
from fiko_billing.emulator.api import new_request_id
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.responses import Request, Response, json_response

if TYPE_CHECKING:
    from fiko_billing.emulator.emulator import Emulator

logger = logging.getLogger("fiko_billing.emulator")

PageView = Callable[[Ctx, Request, str], Response]

PAGES: list[tuple[str, re.Pattern[str], PageView]] = [
    ("GET", re.compile(r"/checkout/([\w-]+)"), pages.checkout_get),
    ("POST", re.compile(r"/checkout/([\w-]+)"), pages.checkout_post),
    ("POST", re.compile(r"/checkout/([\w-]+)/3ds"), pages.three_d_secure_post),
    ("GET", re.compile(r"/portal/([\w-]+)"), portal_page.portal_get),
    ("POST", re.compile(r"/portal/([\w-]+)"), portal_page.portal_post),
    ("GET", re.compile(r"/invoice/([\w-]+)"), invoice_page.invoice_get),
    ("POST", re.compile(r"/invoice/([\w-]+)"), invoice_page.invoice_post),
    ("POST", re.compile(r"/invoice/([\w-]+)/3ds"), invoice_page.three_d_secure_post),
    ("GET", re.compile(r"/receipts/([\w-]+)"), pages.receipt_get),
]


class Application:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle(self, request: Request) -> Response:
        request_id = new_request_id()
        try:
            response = self._route(request, request_id)
        except Exception:
            logger.exception("emulator error in %s %s", request.method, request.path)
            response = json_response(
                500, {"error": {"type": "api_error", "message": "An unknown error occurred"}}
            )
        response.headers["Request-Id"] = request_id
        return response

    def _route(self, request: Request, request_id: str) -> Response:
        path = request.path
        if path.startswith("/v1/"):
            return self.emulator.api.handle(request, request_id)
        if path.startswith("/_emulator/"):
            return control.handle(self.emulator, request)
        for method, pattern, view in PAGES:
            found = pattern.fullmatch(path)
            if found is not None and method == request.method:
                return self._page(view, request, found.group(1))
        if path == "/" and request.method == "GET":
            return json_response(
                200,
                {"emulator": "fiko_billing", "api_version": PINNED_API_VERSION, "api": "/v1"},
            )
        return json_response(
            404,
            {"error": {"type": "invalid_request_error", "message": f"Unrecognized URL: {path}"}},
        )

    def _page(self, view: PageView, request: Request, object_id: str) -> Response:
        store = self.emulator.store
        with store.lock:
            try:
                return view(self.emulator.ctx, request, object_id)
            finally:
                self.emulator.ctx.run_deferred()
                if request.method == "POST":
                    store.changed()
