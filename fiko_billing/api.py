"""The JSON envelope of the HTTP API: input, errors, authentication.

Every error leaves as ``{"error": {"code", "message", "fields"?}}`` with a 4xx
status (or 502/503 when Stripe or billing is unavailable); nothing a client
sends reaches a 500.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from fiko_billing.conf import SETTING_NAME, billing_settings
from fiko_billing.exceptions import RequestError
from fiko_billing.gateway import (
    StripeDisabled,
    StripeGatewayError,
    StripeTimeout,
    request_time_budget,
)
from fiko_billing.inputs import MAX_BODY_BYTES as MAX_BODY_BYTES
from fiko_billing.inputs import InputForm, content_length
from fiko_billing.subscribers import HeaderAuthenticated, Subscriber, ensure_subscriber

logger = logging.getLogger("fiko_billing.api")

View = Callable[..., Any]

STATUS_CODES_ALWAYS = frozenset({400, 405, 503})


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return JsonResponse({"error": body}, status=status)


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        return error_response(
            403, "csrf_failed", _("CSRF verification failed: %(reason)s") % {"reason": reason}
        )


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


class Unresolved(Exception):
    """The request has no subscriber: ``status`` (401 or 403), ``code`` and message say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def response(self) -> JsonResponse:
        return error_response(self.status, self.code, str(self))


def resolve_subscriber(request: HttpRequest) -> tuple[Subscriber, bool]:
    """The request's subscriber and whether a header, not the session, authenticated it.

    The one place ``SUBSCRIBER_RESOLVER`` is called: the JSON API, the
    entitlement decorators, mixin and context processor and the
    ``fiko_billing.contrib`` integrations all resolve a request through it.

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
            raise Unresolved(
                403,
                "no_billing_account",
                _("You are signed in, but no billing account belongs to you."),
            )
        raise Unresolved(
            401, "not_authenticated", _("Authentication credentials were not provided.")
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
    if not declared and not content_length(request):
        return None
    return error_response(
        415,
        "unsupported_media_type",
        _("Send the body as JSON with 'Content-Type: application/json'."),
    )


def endpoint(
    *,
    methods: Iterable[str],
    statuses: Iterable[int],
    authenticated: bool = True,
    input_form: type[InputForm] | None = None,
) -> Callable[[View], View]:
    """Make ``view(request, subscriber, **kwargs) -> (status, body)`` a JSON endpoint.

    ``statuses`` lists every status the view can answer; it is what the
    OpenAPI document must say, and the test suite checks both agree. With
    ``input_form``, the view gets the form's cleaned data as ``data``; the test
    suite checks the form and the document's request schema agree too.
    """
    allowed = tuple(m.upper() for m in methods)
    declared = (
        frozenset(statuses)
        | STATUS_CODES_ALWAYS
        | ({401, 403} if authenticated else set())
        | ({415} if "POST" in allowed else set())
    )
    spec = _Spec(allowed, authenticated, input_form)

    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            response = _dispatch(spec, view, request, kwargs)
            if response.status_code not in declared:
                logger.error(
                    "%s answered %s, which its declared statuses do not list",
                    view.__name__,
                    response.status_code,
                )
            return response

        wrapper.allowed_methods = allowed  # type: ignore[attr-defined]
        wrapper.declared_statuses = declared  # type: ignore[attr-defined]
        wrapper.input_form = input_form  # type: ignore[attr-defined]
        return wrapper

    return decorate


@dataclass(frozen=True)
class _Spec:
    allowed: tuple[str, ...]
    authenticated: bool
    input_form: type[InputForm] | None


def _dispatch(
    spec: _Spec, view: View, request: HttpRequest, kwargs: dict[str, Any]
) -> HttpResponse:
    if request.method not in spec.allowed:
        response = error_response(
            405,
            "method_not_allowed",
            _("%(method)s is not allowed here; use %(allowed)s.")
            % {"method": request.method, "allowed": ", ".join(spec.allowed)},
        )
        response["Allow"] = ", ".join(spec.allowed)
        return response
    if not billing_settings.ENABLED:
        return error_response(503, "billing_disabled", _("Billing is not enabled."))
    subscriber = None
    by_header = False
    if spec.authenticated:
        try:
            subscriber, by_header = resolve_subscriber(request)
        except Unresolved as unresolved:
            return unresolved.response
    rejected = _unsupported_media_type(request)
    if rejected is None and spec.authenticated and not by_header:
        rejected = _csrf_failure(request)
    if rejected is not None:
        return rejected
    return _call(spec, view, request, subscriber, kwargs)


def _call(
    spec: _Spec,
    view: View,
    request: HttpRequest,
    subscriber: Subscriber | None,
    kwargs: dict[str, Any],
) -> HttpResponse:
    """The view's answer, or the envelope of the error it raised."""
    try:
        if spec.input_form is not None:
            kwargs = {**kwargs, "data": spec.input_form.read(request)}
        with request_time_budget():
            status, body = view(request, subscriber, **kwargs)
    except RequestError as exc:
        return error_response(exc.status, exc.code, str(exc), exc.fields)
    except StripeDisabled as exc:
        return error_response(503, "billing_disabled", str(exc))
    except StripeTimeout as exc:
        logger.warning("%s: Stripe did not answer in time", view.__name__)
        return error_response(503, exc.code, _(exc.user_message))
    except StripeGatewayError as exc:
        logger.warning("%s: Stripe failed: %s", view.__name__, exc.__class__.__name__)
        # Our own messages are in the catalogue; Stripe's card messages pass unchanged.
        return error_response(502, "stripe_error", _(exc.user_message))
    return JsonResponse(body, status=status)
