"""The developer panel: the Stripe emulator's clock, its webhook deliveries, a reset.

These views call the emulator's ``/_emulator/*`` control endpoints (test
controls that Stripe itself does not have, so they are not part of the
gateway) and exist only while the project talks to a local emulator
(``DEMO_DEVELOPER_PANEL``). Moving the clock moves Stripe's time only; the
project keeps the real time, so after a jump the panel expires what is due at
Stripe's time, as the project's own expiry job would once that time came.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.core.management import call_command
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from demo.catalogue import load_catalogue
from fiko_billing import tokens
from fiko_billing.conf import billing_settings
from fiko_billing.emulator.clock import DAY, add_months
from fiko_billing.services import subscriptions

#: How many of the latest webhook deliveries the panel lists.
SHOWN_DELIVERIES = 8
#: Stripe draws the renewal invoice at the period's end and finalizes and
#: charges it an hour later: "to the next renewal" lands just after the charge.
PAST_RENEWAL = 3_600 + 60
CONTROL_TIMEOUT = 60

# Straight to the emulator on 127.0.0.1: a proxy from the environment must not see it.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorUnavailable(Exception):
    """The emulator did not answer a control call, or refused it."""


def enabled() -> bool:
    return bool(getattr(settings, "DEMO_DEVELOPER_PANEL", False))


def _control(method: str, path: str, fields: dict[str, Any] | None = None) -> Any:
    body = None if fields is None else urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(  # noqa: S310 - the local emulator's URL from settings
        f"{billing_settings.STRIPE_API_BASE.rstrip('/')}{path}",
        data=body,
        method=method,
        headers={"Content-Type": "application/x-www-form-urlencoded"} if body else {},
    )
    try:
        with _direct.open(request, timeout=CONTROL_TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as problem:
        with problem:
            detail = json.loads(problem.read() or b"{}").get("error", {}).get("message", "")
        raise EmulatorUnavailable(detail or f"HTTP {problem.code}") from None
    except (OSError, ValueError) as problem:
        raise EmulatorUnavailable(str(problem)) from None


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _delivery(entry: dict[str, Any]) -> dict[str, Any]:
    codes = [code for code in entry.get("status_codes", []) if code is not None]
    return {
        "id": entry["id"],
        "type": entry["type"],
        "state": entry["state"],
        "attempts": entry["attempts"],
        "status_code": codes[-1] if codes else None,
        "error": (entry.get("errors") or [None])[-1],
    }


def _state() -> dict[str, Any]:
    now = int(_control("GET", "/_emulator/clock")["now"])
    deliveries = _control("GET", "/_emulator/deliveries")["data"]
    return {
        "stripe_now": now,
        "stripe_time": datetime.fromtimestamp(now, UTC).isoformat(),
        "deliveries": [_delivery(d) for d in reversed(deliveries[-SHOWN_DELIVERIES:])],
    }


@require_GET
def state(request: HttpRequest) -> JsonResponse:
    """The emulator's clock and its latest webhook deliveries, newest first."""
    if not enabled():
        return _error(404, "not_found", "The developer panel is off.")
    try:
        return JsonResponse(_state())
    except EmulatorUnavailable as problem:
        return _error(502, "emulator_unavailable", f"The Stripe emulator: {problem}")


def _jump(request: HttpRequest, step: str, now: int) -> int:
    """Seconds to move Stripe's clock for ``step``: day, month or renewal."""
    if step == "day":
        return DAY
    if step == "month":
        return add_months(now, 1, datetime.fromtimestamp(now, UTC).day) - now
    row = subscriptions.current_subscription(request.user)
    if row is None or row.current_period_end is None:
        raise ValueError("There is no subscription to renew.")
    return max(PAST_RENEWAL, int(row.current_period_end.timestamp()) - now + PAST_RENEWAL)


@require_POST
def advance_clock(request: HttpRequest) -> JsonResponse:
    """``{"step": "day" | "month" | "renewal"}``: move Stripe's clock, wait for the webhooks."""
    if not enabled():
        return _error(404, "not_found", "The developer panel is off.")
    if not request.user.is_authenticated:
        return _error(401, "not_authenticated", "Log in to use the developer panel.")
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return _error(400, "invalid_json", "The body is not valid JSON.")
    step = data.get("step") if isinstance(data, dict) else None
    if step not in ("day", "month", "renewal"):
        return _error(400, "invalid_input", "'step' must be day, month or renewal.")
    try:
        now = int(_control("GET", "/_emulator/clock")["now"])
        try:
            seconds = _jump(request, step, now)
        except ValueError as problem:
            return _error(409, "no_subscription", str(problem))
        _control("POST", "/_emulator/clock/advance", {"seconds": seconds})
        _control("POST", "/_emulator/deliveries/flush", {"timeout": 30})
        answer = _state()
    except EmulatorUnavailable as problem:
        return _error(502, "emulator_unavailable", f"The Stripe emulator: {problem}")
    # Allowances that ended before Stripe's new time expire now, not at the real date.
    tokens.expire_due(now=datetime.fromtimestamp(answer["stripe_now"], UTC))
    return JsonResponse(answer)


@require_POST
def reset(request: HttpRequest) -> JsonResponse:
    """Start afresh: the emulator forgets everything, the database is emptied and seeded."""
    if not enabled():
        return _error(404, "not_found", "The developer panel is off.")
    if not request.user.is_authenticated:
        return _error(401, "not_authenticated", "Log in to use the developer panel.")
    try:
        _control("POST", "/_emulator/reset", {})
    except EmulatorUnavailable as problem:
        return _error(502, "emulator_unavailable", f"The Stripe emulator: {problem}")
    logout(request)
    call_command("flush", interactive=False, verbosity=0)
    load_catalogue(lambda line: None)
    call_command("sync_stripe_products", verbosity=0)
    call_command("create_demo_promotion", verbosity=0)
    return JsonResponse({"reset": True})
