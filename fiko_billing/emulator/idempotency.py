"""``Idempotency-Key``: the first response of a POST, replayed byte for byte.

As at Stripe: a key is bound to its endpoint and parameters; a retry with the
same ones gets the stored status and body (with ``Idempotent-Replayed:
true``), other parameters get a 400 ``idempotency_error``, and a retry that
arrives while the first request still runs gets a 409. Keys are forgotten
after 24 hours. Nothing is stored for requests rejected before the endpoint
ran (invalid parameters), so a corrected retry with the same key succeeds.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from fiko_billing.emulator.wire import StripeError

RETENTION = 24 * 3600


@dataclass(frozen=True)
class Stored:
    endpoint: str
    fingerprint: str
    status: int
    body: bytes
    saved_at: float


def fingerprint(params: Any) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


class IdempotencyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stored: dict[str, Stored] = {}
        self._running: set[str] = set()

    def begin(self, key: str, endpoint: str, params: Any) -> Stored | None:
        """The stored response to replay, or None after claiming the key for this request."""
        wanted = fingerprint(params)
        with self._lock:
            self._prune()
            stored = self._stored.get(key)
            if stored is not None:
                if stored.endpoint != endpoint:
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used for the same endpoint "
                        f"they were first used for ('{stored.endpoint}' vs '{endpoint}'). Try "
                        f"using a key other than '{key}' if you meant to execute a different "
                        "request.",
                        type="idempotency_error",
                        replayable=False,
                    )
                if stored.fingerprint != wanted:
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with. Try using a key other than '{key}' if you "
                        "meant to execute a different request.",
                        type="idempotency_error",
                        replayable=False,
                    )
                return stored
            if key in self._running:
                raise StripeError(
                    409,
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    f"going through): {key}. Please try again later.",
                    type="idempotency_error",
                    code="idempotency_key_in_use",
                    replayable=False,
                )
            self._running.add(key)
            return None

    def finish(
        self, key: str, endpoint: str, params: Any, status: int, body: bytes, *, keep: bool
    ) -> None:
        with self._lock:
            self._running.discard(key)
            if keep:
                self._stored[key] = Stored(
                    endpoint, fingerprint(params), status, body, time.time()
                )

    def clear(self) -> None:
        with self._lock:
            self._stored.clear()

    def _prune(self) -> None:
        horizon = time.time() - RETENTION
        for key in [k for k, v in self._stored.items() if v.saved_at < horizon]:
            del self._stored[key]
