"""The demo's pages: the billing page, the Checkout success page, and one metered action.

The pages are thin shells: their JavaScript calls fiko-billing's JSON API
(``/billing/plans/``, ``/billing/account/``, ...) the way any front end would.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST

from demo import developer, hints
from fiko_billing import tokens
from fiko_billing.conf import billing_settings
from fiko_billing.models import Plan, Price, TokenPackage

DEFAULT_USE = 100
MAX_USE = 1_000_000


def _active_prices() -> Prefetch[Any]:
    return Prefetch("prices", queryset=Price.objects.filter(active=True).order_by("currency"))


def _api_urls() -> dict[str, str]:
    """Every URL the page scripts call; ``<id>`` marks where a session id goes."""
    status = reverse("fiko_billing:checkout-session-status", args=["SESSION_ID"])
    return {
        "plans": reverse("fiko_billing:plans"),
        "account": reverse("fiko_billing:account"),
        "checkout": reverse("fiko_billing:checkout-session"),
        "checkout_status": status.replace("SESSION_ID", "<id>"),
        "portal": reverse("fiko_billing:customer-portal"),
        "cancel": reverse("fiko_billing:subscription-cancel"),
        "resume": reverse("fiko_billing:subscription-resume"),
        "change": reverse("fiko_billing:subscription-change"),
        "transactions": reverse("fiko_billing:token-transactions"),
        "payments": reverse("fiko_billing:payments"),
        "preview": reverse("fiko_billing:subscription-change-preview"),
        "use_tokens": reverse("use-tokens"),
        "developer_state": reverse("developer-state"),
        "developer_clock": reverse("developer-clock"),
        "developer_reset": reverse("developer-reset"),
        "home": reverse("home"),
        "login": reverse("login"),
    }


def _page_config(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "authenticated": request.user.is_authenticated,
        "urls": _api_urls(),
        "default_use": DEFAULT_USE,
        "developer_panel": developer.enabled(),
        **extra,
    }


@ensure_csrf_cookie
def billing_page(request: HttpRequest) -> HttpResponse:
    plans = list(Plan.objects.filter(active=True).prefetch_related(_active_prices()))
    packages = list(TokenPackage.objects.filter(active=True).prefetch_related(_active_prices()))
    offered = {price.currency for plan in plans for price in plan.prices.all()}
    offered |= {price.currency for package in packages for price in package.prices.all()}
    currency = billing_settings.CURRENCY
    currencies = sorted(offered | {currency})
    context = {
        "plans": plans,
        "packages": packages,
        "currencies": currencies,
        "currency": currency,
        "config": _page_config(
            request, currency=currency, max_quantity=billing_settings.MAX_QUANTITY
        ),
    }
    return render(request, "demo/billing.html", context)


@login_required
def checkout_success(request: HttpRequest) -> HttpResponse:
    session_id = request.GET.get("session_id", "")
    return render(
        request,
        "demo/success.html",
        {"config": _page_config(request, session_id=session_id)},
    )


@require_POST
def switch_user(request: HttpRequest) -> HttpResponse:
    """Log in as another seeded demo user (``demo`` or ``alice``) without their password."""
    names = {name for name, _password in hints.DEMO_USERS}
    username = request.POST.get("username", "")
    user = get_user_model()._default_manager.filter(username=username).first()
    if username not in names or user is None:
        allowed = ", ".join(sorted(names))
        return _error(400, "invalid_input", f"'username' must be one of {allowed}.")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("home")


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@require_POST
def use_tokens(request: HttpRequest) -> JsonResponse:
    """Spend tokens as a metered feature would: ``{"amount": n}``, 100 by default."""
    if not request.user.is_authenticated:
        return _error(401, "not_authenticated", "Log in to use tokens.")
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return _error(400, "invalid_json", "The body is not valid JSON.")
    amount = data.get("amount", DEFAULT_USE) if isinstance(data, dict) else None
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_USE:
        return _error(400, "invalid_input", f"'amount' must be an integer from 1 to {MAX_USE}.")
    # The user is the subscriber in this project (FIKO_BILLING_SUBSCRIBER_MODEL unset).
    try:
        tokens.consume(request.user, amount, description="Used in the demo")
    except tokens.InsufficientTokens as exc:
        return _error(409, "insufficient_tokens", str(exc))
    return JsonResponse({"token_balance": tokens.balance(request.user)})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """JSON for the demo's JSON view, Django's page for forms."""
    if request.path.startswith("/demo/") and request.path != reverse("switch-user"):
        return _error(403, "csrf_failed", f"CSRF verification failed: {reason}")
    return django_csrf_failure(request, reason=reason)
