"""The ``/v1`` API: authentication, routing, parameters, idempotency, expansion."""

from __future__ import annotations

import base64
import binascii
import logging
import random
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fiko_billing.api_version import PINNED_API_VERSION
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.expand import expand
from fiko_billing.emulator.idempotency import IdempotencyCache
from fiko_billing.emulator.params import validate
from fiko_billing.emulator.responses import Request, Response, json_response
from fiko_billing.emulator.routing import Call, Route
from fiko_billing.emulator.wire import Obj, StripeError, decode_form, dumps

_KEY = re.compile(r"^(sk|rk)_test_[A-Za-z0-9_]+$")
_PREFIX = re.compile(r"^(sk|rk|pk)_(test|live)_")

#: The keys an emulator accepts unless told otherwise: obvious test values.
DEFAULT_API_KEYS = ("sk_test_emulator", "rk_test_emulator")
_request_ids = random.Random()  # noqa: S311 - request ids, not secrets
logger = logging.getLogger("fiko_billing.emulator")

NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://docs.stripe.com/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)


def new_request_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "req_" + "".join(_request_ids.choice(alphabet) for _ in range(14))


@dataclass(frozen=True)
class Exchange:
    """One ``/v1`` request and its answer, as observers see it.

    ``params`` is the decoded form (every leaf a string), or None when the
    body could not be decoded.
    """

    method: str
    path: str
    params: Obj | None
    status: int
    body: bytes


Observer = Callable[[Exchange], None]


def check_api_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """The secret keys an emulator will accept; ValueError for anything else."""
    accepted = tuple(keys)
    if not accepted:
        raise ValueError("the emulator needs at least one API key to accept")
    for key in accepted:
        if _KEY.match(key) is None:
            shown = _masked(key)
            raise ValueError(
                f"{shown} is not a test-mode secret key (sk_test_... or rk_test_...): "
                "the emulator runs in test mode only"
            )
    return accepted


def _masked(key: str) -> str:
    """A key as it may be shown: its recognised prefix, the rest hidden."""
    prefix = _PREFIX.match(key)
    head = prefix.group(0) if prefix else ""
    return head + "*" * min(max(len(key) - len(head), 0), 24)


class Api:
    def __init__(
        self, ctx: Ctx, routes: Iterable[Route], keys: Iterable[str] = DEFAULT_API_KEYS
    ) -> None:
        self.ctx = ctx
        self.routes = list(routes)
        self.keys = frozenset(check_api_keys(keys))
        self.idempotency = IdempotencyCache()
        self.observers: list[Observer] = []

    def handle(self, request: Request, request_id: str) -> Response:
        version = request.header("Stripe-Version") or PINNED_API_VERSION
        headers = {"Stripe-Version": version}
        key = request.header("Idempotency-Key") if request.method == "POST" else None
        if key:
            headers["Idempotency-Key"] = key
        try:
            raw: Obj | None = decode_form(
                request.text if request.method == "POST" else request.query
            )
        except StripeError:
            raw = None
        try:
            response = self._dispatch(request, request_id, key, headers)
        except StripeError as error:
            response = json_response(error.status, error.body(request_id), headers)
        exchange = Exchange(request.method, request.path, raw, response.status, response.body)
        for observer in list(self.observers):
            try:
                observer(exchange)
            except Exception:
                logger.exception("emulator observer failed")
        return response

    def _dispatch(
        self, request: Request, request_id: str, key: str | None, headers: dict[str, str]
    ) -> Response:
        self._authenticate(request)
        route, args = self._route(request)
        raw = decode_form(request.text if request.method == "POST" else request.query)
        endpoint = f"{request.method} {request.path}"
        if key:
            stored = self.idempotency.begin(key, endpoint, raw)
            if stored is not None:
                replay = {**headers, "Idempotent-Replayed": "true"}
                response = Response(stored.status, stored.body, replay)
                response.headers["Content-Type"] = "application/json"
                return response
        status, body, keep = self._run(route, args, raw, request, request_id, key)
        if key:
            self.idempotency.finish(key, endpoint, raw, status, body, keep=keep)
        return Response(status, body, {**headers, "Content-Type": "application/json"})

    def _run(
        self,
        route: Route,
        args: dict[str, str],
        raw: dict[str, object],
        request: Request,
        request_id: str,
        key: str | None,
    ) -> tuple[int, bytes, bool]:
        ctx = self.ctx
        try:
            params = validate(route.params, raw)
            with ctx.store.lock:
                ctx.events.request_id = request_id
                ctx.events.idempotency_key = key
                try:
                    result = route.handler(ctx, Call(params, args, request.path))
                    if params.get("expand"):
                        result = expand(ctx.store, result, params["expand"])
                    body = dumps(result)
                finally:
                    ctx.events.request_id = None
                    ctx.events.idempotency_key = None
                    ctx.run_deferred()
                    if request.method != "GET":
                        ctx.store.changed()
        except StripeError as error:
            return error.status, dumps(error.body(request_id)), error.replayable
        except Exception:
            logger.exception("emulator error in %s %s", request.method, request.path)
            failure = StripeError(500, "An unknown error occurred", type="api_error")
            return 500, dumps(failure.body(request_id)), True
        return 200, body, True

    def _authenticate(self, request: Request) -> None:
        authorization = request.header("Authorization") or ""
        scheme, _, credential = authorization.partition(" ")
        if not credential or scheme.lower() not in ("bearer", "basic"):
            raise StripeError(401, NO_KEY, replayable=False)
        if scheme.lower() == "basic":
            # curl -u sk_test_...: sends "key:" in base64.
            try:
                credential = base64.b64decode(credential).decode().split(":", 1)[0]
            except (binascii.Error, UnicodeDecodeError):
                credential = ""
        if credential.strip() not in self.keys:
            # As Stripe: 401 for any key it does not know, whatever its prefix
            # (the SDK raises AuthenticationError). Never echo the key back.
            raise StripeError(
                401, "Invalid API Key provided: " + _masked(credential.strip()), replayable=False
            )

    def _route(self, request: Request) -> tuple[Route, dict[str, str]]:
        for route in self.routes:
            if route.method != request.method:
                continue
            args = route.match(request.path)
            if args is not None:
                return route, args
        raise StripeError(
            404,
            f"Unrecognized request URL ({request.method}: {request.path}). Please see "
            "https://docs.stripe.com or we can help at https://support.stripe.com/.",
            replayable=False,
        )
