"""Checkout Sessions kept in a dict behind the stub: create, retrieve, expire, complete.

Sessions have Stripe's states (``open`` -> ``complete`` | ``expired``) and
answers: expiring a session that is not open is a 400, an unknown id a 404.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from fiko_billing.testing import payloads
from tests.stripe_stub import Recorded, StripeStub

SESSION = r"/v1/checkout/sessions/(cs_test_fake\d+)"


class CheckoutSessions:
    def __init__(self, stub: StripeStub) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.serial = itertools.count(1)
        stub.on("POST", "/v1/checkout/sessions", self.create)
        stub.on("GET", SESSION, self.retrieve)
        stub.on("POST", SESSION + "/expire", self.expire)

    def create(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        metadata = {
            key[len("metadata[") : -1]: value
            for key, value in request.params.items()
            if key.startswith("metadata[")
        }
        return 200, self.add(request.params["mode"], request.params["customer"], metadata)

    def add(
        self, mode: str, customer_id: str, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A new open session, as one made by an earlier request."""
        with self.lock:
            session = payloads.checkout_session(
                id=f"cs_test_fake{next(self.serial)}",
                mode=mode,
                customer_id=customer_id,
                metadata=metadata or {},
            )
            self.sessions[session["id"]] = session
            return dict(session)

    def _find(self, request: Recorded) -> dict[str, Any] | None:
        return self.sessions.get(request.path.split("/")[4])

    def retrieve(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        with self.lock:
            session = self._find(request)
            if session is None:
                return 404, payloads.error("No such checkout.session", code="resource_missing")
            return 200, dict(session)

    def expire(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        with self.lock:
            session = self._find(request)
            if session is None:
                return 404, payloads.error(
                    "No such checkout.session", code="resource_missing", param="session"
                )
            if session["status"] != "open":
                return 400, payloads.error(
                    "Only Checkout Sessions with a status of `open` can be expired.",
                    param="session",
                )
            session.update(status="expired", url=None)
            return 200, dict(session)

    # What the customer does on Stripe's page, or the clock.

    def complete(self, session_id: str) -> None:
        with self.lock:
            self.sessions[session_id].update(status="complete", payment_status="paid", url=None)

    def lapse(self, session_id: str, *, in_seconds: int = 0) -> None:
        """Bring the session's ``expires_at`` this close (Stripe's own expiry)."""
        with self.lock:
            session = self.sessions[session_id]
            session["expires_at"] = int(time.time()) + in_seconds
            if in_seconds <= 0:
                session.update(status="expired", url=None)

    def open(self) -> list[str]:
        with self.lock:
            return sorted(s["id"] for s in self.sessions.values() if s["status"] == "open")
