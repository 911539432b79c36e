"""The JSON envelope of the HTTP API: parsing, validation, errors, authentication.

Every error leaves as ``{"error": {"code", "message", "fields"?}}`` with a 4xx
status (or 502/503 when Stripe or billing is unavailable); nothing a client
sends reaches a 500.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from fiko_billing import strict_json
from fiko_billing.conf import SETTING_NAME, billing_settings
from fiko_billing.exceptions import InvalidInput, RequestError
from fiko_billing.gateway import (
    StripeDisabled,
    StripeGatewayError,
    StripeTimeout,
    request_time_budget,
)
from fiko_billing.subscribers import HeaderAuthenticated, ensure_subscriber

logger = logging.getLogger("fiko_billing.api")

View = Callable[..., Any]

STATUS_CODES_ALWAYS = frozenset({400, 405, 503})
MAX_BODY_BYTES = 64 * 1024


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return JsonResponse({"error": body}, status=status)


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        return error_response(403, "csrf_failed", f"CSRF verification failed: {reason}")


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """Django's CSRF check, for every request the resolver did not authenticate by a header.

    Whether a request may skip the check is the resolver's statement
    (``HeaderAuthenticated``), never the presence of a header: browsers add
    ``Authorization`` themselves (Basic, Digest, Negotiate, NTLM) and a forged
    request may carry any header the attacker's page can make a browser send.
    """
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return None
    check = _CsrfCheck(lambda _request: HttpResponse())
    check.process_request(request)
    return check.process_view(request, lambda _request: HttpResponse(), (), {})


class _Unresolved(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _resolve(request: HttpRequest) -> tuple[Any, bool]:
    """The request's subscriber and whether a header, not the session, authenticated it.

    A resolver that finds no subscriber (``None``, or ``ObjectDoesNotExist``
    such as a user without an organisation) answers 401 to an anonymous
    request and 403 ``no_billing_account`` to a logged-in user, who is
    authenticated but has nothing to bill. An answer that is not an instance
    of the subscriber model is a configuration error, never acted upon.
    """
    resolver = billing_settings.SUBSCRIBER_RESOLVER
    try:
        resolved = resolver(request)
    except ObjectDoesNotExist:
        resolved = None
    by_header = isinstance(resolved, HeaderAuthenticated)
    subscriber = resolved.subscriber if isinstance(resolved, HeaderAuthenticated) else resolved
    if subscriber is None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            raise _Unresolved(
                error_response(
                    403,
                    "no_billing_account",
                    "You are signed in, but no billing account belongs to you.",
                )
            )
        raise _Unresolved(
            error_response(
                401, "not_authenticated", "Authentication credentials were not provided."
            )
        )
    try:
        ensure_subscriber(subscriber)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['SUBSCRIBER_RESOLVER'] returned an unusable subscriber: {exc} "
            "(see the fiko_billing.E012 system check)."
        ) from exc
    return subscriber, by_header


def _unsupported_media_type(request: HttpRequest) -> HttpResponse | None:
    """415 unless a ``POST`` says its body is JSON (a ``POST`` without a body may say nothing).

    A cross-site ``<form>`` can only send ``text/plain``, urlencoded or
    multipart bodies; refusing them is a second wall behind the CSRF check.
    """
    if request.method != "POST":
        return None
    content_type = request.content_type or ""
    if content_type == "application/json":
        return None
    declared = bool(request.META.get("CONTENT_TYPE", "").strip())
    if not declared and not _content_length(request):
        return None
    return error_response(
        415,
        "unsupported_media_type",
        "Send the body as JSON with 'Content-Type: application/json'.",
    )


def _content_length(request: HttpRequest) -> int:
    raw = request.META.get("CONTENT_LENGTH") or "0"
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else MAX_BODY_BYTES + 1


def endpoint(
    *, methods: Iterable[str], statuses: Iterable[int], authenticated: bool = True
) -> Callable[[View], View]:
    """Make ``view(request, subscriber, **kwargs) -> (status, body)`` a JSON endpoint.

    ``statuses`` lists every status the view can answer; it is what the
    OpenAPI document must say, and the test suite checks both agree.
    """
    allowed = tuple(m.upper() for m in methods)
    declared = (
        frozenset(statuses)
        | STATUS_CODES_ALWAYS
        | ({401, 403} if authenticated else set())
        | ({415} if "POST" in allowed else set())
    )

    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            response = _dispatch(request, kwargs)
            if response.status_code not in declared:
                logger.error(
                    "%s answered %s, which its declared statuses do not list",
                    view.__name__,
                    response.status_code,
                )
            return response

        def _dispatch(request: HttpRequest, kwargs: dict[str, Any]) -> HttpResponse:
            if request.method not in allowed:
                response = error_response(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed here; use {', '.join(allowed)}.",
                )
                response["Allow"] = ", ".join(allowed)
                return response
            if not billing_settings.ENABLED:
                return error_response(503, "billing_disabled", "Billing is not enabled.")
            subscriber = None
            by_header = False
            if authenticated:
                try:
                    subscriber, by_header = _resolve(request)
                except _Unresolved as unresolved:
                    return unresolved.response
            rejected = _unsupported_media_type(request)
            if rejected is None and authenticated and not by_header:
                rejected = _csrf_failure(request)
            if rejected is not None:
                return rejected
            try:
                with request_time_budget():
                    status, body = view(request, subscriber, **kwargs)
            except RequestError as exc:
                return error_response(exc.status, exc.code, str(exc), exc.fields)
            except StripeDisabled as exc:
                return error_response(503, "billing_disabled", str(exc))
            except StripeTimeout as exc:
                logger.warning("%s: Stripe did not answer in time", view.__name__)
                return error_response(503, exc.code, exc.user_message)
            except StripeGatewayError as exc:
                logger.warning("%s: Stripe failed: %s", view.__name__, exc.__class__.__name__)
                return error_response(502, "stripe_error", exc.user_message)
            return JsonResponse(body, status=status)

        wrapper.allowed_methods = allowed  # type: ignore[attr-defined]
        wrapper.declared_statuses = declared  # type: ignore[attr-defined]
        return wrapper

    return decorate


# ---------------------------------------------------------------------- input


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object body; an empty body is ``{}``.

    The size is checked before the body is read, and what is parsed is
    strict JSON: no ``NaN``/``Infinity``, no nesting deeper than
    ``MAX_JSON_DEPTH``, no text that a database would refuse (``\\u0000``).
    """
    if _content_length(request) > MAX_BODY_BYTES:
        raise InvalidInput(
            f"The request body is too large (at most {MAX_BODY_BYTES} bytes).",
            code="body_too_large",
        )
    body = request.body
    if not body.strip():
        return {}
    data = parse_json(body)
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", code="invalid_json")
    return data


def parse_json(body: bytes) -> Any:
    """``body`` decoded as strict JSON, or ``InvalidInput`` (``invalid_json``) saying why."""
    try:
        data = strict_json.loads(body)
    except strict_json.JSONRejected as exc:
        raise InvalidInput(f"The body is not valid JSON: {exc}", code="invalid_json") from exc
    if strict_json.contains_nul(data):
        raise InvalidInput("The body contains a NUL character (\\u0000), which no field accepts.")
    return data


def int_field(
    data: dict[str, Any],
    name: str,
    *,
    required: bool = True,
    default: int | None = None,
    minimum: int = 1,
    maximum: int = 2**31 - 1,
) -> int | None:
    if name not in data or data[name] is None:
        if required:
            raise InvalidInput(
                f"'{name}' is required.",
                code="missing_field",
                fields={name: "This field is required."},
            )
        return default
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"'{name}' must be an integer.", fields={name: "Must be an integer."})
    if not minimum <= value <= maximum:
        raise InvalidInput(
            f"'{name}' must be between {minimum} and {maximum}.",
            fields={name: f"Must be between {minimum} and {maximum}."},
        )
    return value


def choice_field(data: dict[str, Any], name: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    value = data.get(name)
    if value is None:
        raise InvalidInput(
            f"'{name}' is required.",
            code="missing_field",
            fields={name: "This field is required."},
        )
    if not isinstance(value, str) or value not in options:
        raise InvalidInput(
            f"'{name}' must be one of: {', '.join(options)}.",
            fields={name: f"Must be one of: {', '.join(options)}."},
        )
    return value


def str_field(data: dict[str, Any], name: str, *, max_length: int = 2000) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidInput(
            f"'{name}' must be a non-empty string of at most {max_length} characters.",
            fields={name: "Must be a non-empty string."},
        )
    return value


def bool_field(data: dict[str, Any], name: str, *, default: bool = False) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"'{name}' must be true or false.", fields={name: "Must be a boolean."})
    return value


def query_int(request: HttpRequest, name: str, *, default: int, maximum: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or not 1 <= int(raw) <= maximum:
        raise InvalidInput(
            f"'{name}' must be an integer between 1 and {maximum}.",
            fields={name: f"Must be between 1 and {maximum}."},
        )
    return int(raw)
