"""``/_emulator/*``: the clock, webhook deliveries, fault injection, disputes, reset (JSON)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fiko_billing.emulator.clock import DAY
from fiko_billing.emulator.faults import parse_fault
from fiko_billing.emulator.responses import Request, Response, json_response

if TYPE_CHECKING:
    from fiko_billing.emulator.emulator import Emulator


def _body(request: Request) -> dict[str, Any]:
    text = request.text.strip()
    if not text:
        return dict(parse_qsl(request.query))
    if text.startswith("{") or "json" in (request.header("Content-Type") or ""):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data
    return dict(parse_qsl(text))


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": {"type": "emulator_error", "message": message}})


def handle(emulator: Emulator, request: Request) -> Response:
    route = (request.method, request.path.rstrip("/"))
    try:
        data = _body(request) if request.method == "POST" else dict(parse_qsl(request.query))
        return _dispatch(emulator, route, data)
    except (ValueError, TypeError) as problem:
        return _error(400, str(problem))
    except TimeoutError as problem:
        return _error(504, str(problem))
    except RuntimeError as problem:
        return _error(409, str(problem))


def _dispatch(emulator: Emulator, route: tuple[str, str], data: dict[str, Any]) -> Response:
    match route:
        case ("GET", "/_emulator/clock"):
            return json_response(200, emulator.clock_state())
        case ("POST", "/_emulator/clock/advance"):
            seconds = float(data.get("seconds", 0)) + float(data.get("days", 0)) * DAY
            seconds += float(data.get("hours", 0)) * 3600
            if seconds < 0:
                raise ValueError("the clock only moves forward")
            steps = emulator.advance(seconds=seconds)
            return json_response(200, {**emulator.clock_state(), "steps": steps})
        case ("GET", "/_emulator/deliveries"):
            return json_response(
                200,
                {
                    "object": "list",
                    "data": emulator.deliveries(),
                    "paused": emulator.dispatcher.paused,
                    "faults": emulator.dispatcher.faults.public(),
                },
            )
        case ("POST", "/_emulator/faults"):
            emulator.dispatcher.add_fault(parse_fault(data))
            return json_response(200, {"faults": emulator.dispatcher.faults.public()})
        case ("POST", "/_emulator/deliveries/pause"):
            emulator.pause_deliveries()
            return json_response(200, {"paused": True})
        case ("POST", "/_emulator/deliveries/resume"):
            emulator.resume_deliveries()
            return json_response(200, {"paused": False})
        case ("POST", "/_emulator/deliveries/flush"):
            emulator.flush(timeout=float(data.get("timeout", 10)))
            return json_response(200, {"pending": 0})
        case ("POST", "/_emulator/reset"):
            emulator.reset()
            return json_response(200, {"reset": True})
        case ("POST", "/_emulator/disputes"):
            if not data.get("charge"):
                raise ValueError("charge is required: a charge or payment intent id")
            amount = data.get("amount")
            dispute = emulator.open_dispute(
                str(data["charge"]),
                reason=str(data.get("reason") or "fraudulent"),
                amount=None if amount in (None, "") else int(amount),
            )
            return json_response(200, dispute)
        case ("POST", path) if path.startswith("/_emulator/disputes/") and path.endswith("/close"):
            outcome = data.get("outcome")
            if outcome not in ("won", "lost"):
                raise ValueError("outcome must be won or lost")
            evidence = str(data.get("evidence", "true")).lower() not in ("false", "0", "no")
            dispute_id = path.removeprefix("/_emulator/disputes/").removesuffix("/close")
            closed = emulator.close_dispute(
                dispute_id, won=outcome == "won", submit_evidence=evidence
            )
            return json_response(200, closed)
    return _error(404, f"Unknown emulator endpoint: {route[0]} {route[1]}")
