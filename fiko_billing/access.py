"""Views that only entitled subscribers reach: a decorator and a class-based view mixin.

A request is let through when ``SUBSCRIBER_RESOLVER`` finds its subscriber
(exactly as the JSON API resolves it) and that subscriber's plan is active
(and one of ``plans``, when given). Otherwise the view is not called and the
answer is the JSON error envelope of the HTTP API, ``{"error": {"code",
"message"}}``:

- ``401 not_authenticated``: no subscriber for this request, nobody signed in;
- ``403 no_billing_account``: signed in, but no billing account is theirs;
- ``402 subscription_required``: no active plan, paying would let it in;
- ``403 plan_not_allowed``: an active plan, but not one the view accepts.

Only sync views are supported: the checks and the ledger use the ORM.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

from django.db import models
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _

from fiko_billing.api import Unresolved, error_response, resolve_subscriber
from fiko_billing.entitlements import Entitlement, PlanSelector, entitlement

if TYPE_CHECKING:
    from django.views import View as _MixinBase
else:
    _MixinBase = object

__all__ = [
    "Denial",
    "Granted",
    "SubscriptionRequiredMixin",
    "check_access",
    "subscriber_for_request",
    "subscription_required",
]

_REQUEST_CACHE = "_fiko_billing_subscriber"

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponseBase])


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a request may not reach a view: an HTTP status, a stable code, a message."""

    status: int
    code: str
    message: str

    def response(self) -> JsonResponse:
        return error_response(self.status, self.code, self.message)


@dataclass(frozen=True, slots=True)
class Granted:
    """The request's subscriber and the entitlement that lets it in."""

    subscriber: models.Model
    entitlement: Entitlement


def subscriber_for_request(request: HttpRequest) -> models.Model:
    """The request's subscriber, resolved as the JSON API does, once per request.

    Raises ``fiko_billing.api.Unresolved`` (401 ``not_authenticated`` or 403
    ``no_billing_account``) without one, and ``ImproperlyConfigured`` when the
    resolver answers something that is not a subscriber. The decorators, the
    mixin and the context processor share the answer, so stacking them costs
    one resolution.
    """
    if not hasattr(request, _REQUEST_CACHE):
        try:
            outcome: models.Model | Unresolved = resolve_subscriber(request)[0]
        except Unresolved as exc:
            outcome = exc
        setattr(request, _REQUEST_CACHE, outcome)
    cached = getattr(request, _REQUEST_CACHE)
    if isinstance(cached, Unresolved):
        raise cached
    subscriber: models.Model = cached
    return subscriber


def unresolved(exc: Unresolved) -> Denial:
    return Denial(exc.status, exc.code, str(exc))


def check_access(request: HttpRequest, plans: PlanSelector | None = None) -> Granted | Denial:
    """Whether ``request``'s subscriber holds an active plan (one of ``plans``, if given).

    One query besides what the resolver costs. On success the request gets
    ``billing_subscriber`` and ``billing_entitlement`` attributes for the view.
    """
    try:
        subscriber = subscriber_for_request(request)
    except Unresolved as exc:
        return unresolved(exc)
    current = entitlement(subscriber)
    if not current.active:
        return Denial(
            402, "subscription_required", _("An active subscription is required for this.")
        )
    if not current.allows(plans):
        return Denial(403, "plan_not_allowed", _("Your plan does not include this."))
    request.billing_subscriber = subscriber  # type: ignore[attr-defined]
    request.billing_entitlement = current  # type: ignore[attr-defined]
    return Granted(subscriber, current)


def require_sync(view: Callable[..., Any], decorator: str) -> None:
    if inspect.iscoroutinefunction(view):
        raise TypeError(f"{decorator} supports sync views only; {view.__qualname__} is async")


@overload
def subscription_required(view: ViewFunc, /) -> ViewFunc: ...
@overload
def subscription_required(
    *, plans: PlanSelector | None = None
) -> Callable[[ViewFunc], ViewFunc]: ...
def subscription_required(
    view: ViewFunc | None = None, /, *, plans: PlanSelector | None = None
) -> ViewFunc | Callable[[ViewFunc], ViewFunc]:
    """Let a view function run only for a subscriber with an active plan.

    Use it bare (``@subscription_required``) or with the plans the view
    accepts (``@subscription_required(plans=["Pro", "Business"])``): ``Plan``
    instances, primary keys or exact plan names.
    """

    def decorate(func: ViewFunc) -> ViewFunc:
        require_sync(func, "subscription_required")

        @functools.wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            outcome = check_access(request, plans)
            if isinstance(outcome, Denial):
                return outcome.response()
            return func(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    if view is not None:
        return decorate(view)
    return decorate


class SubscriptionRequiredMixin(_MixinBase):
    """A class-based view mixin (put it first) with the checks of ``subscription_required``.

    Set ``subscription_plans`` (or override ``get_subscription_plans``) to
    accept only some plans; override ``handle_not_entitled`` to answer a
    denial differently (a redirect to the pricing page, an HTML page).
    """

    subscription_plans: PlanSelector | None = None

    def get_subscription_plans(self) -> PlanSelector | None:
        return self.subscription_plans

    def handle_not_entitled(self, request: HttpRequest, denial: Denial) -> HttpResponseBase:
        return denial.response()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        outcome = check_access(request, self.get_subscription_plans())
        if isinstance(outcome, Denial):
            return self.handle_not_entitled(request, outcome)
        return super().dispatch(request, *args, **kwargs)
