"""All emulator state: objects by type, hidden per-object data, ids, the clock.

Objects are kept as plain JSON-shaped dicts in the shape the API returns
(relations as ids). Data Stripe keeps but never shows (how a test card behaves,
a webhook endpoint's secret, a session's line items) lives in ``private``.
One re-entrant lock guards everything: requests, page posts, the clock and
the delivery thread's bookkeeping each hold it while they touch state.
"""

from __future__ import annotations

import json
import os
import random
import string
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fiko_billing.emulator.billing_settings import BillingSettings
from fiko_billing.emulator.clock import Clock

Obj = dict[str, Any]

#: 2: invoices without their includable fields, balance transactions, disputes.
STATE_FORMAT = 2
_ALPHABET = string.ascii_letters + string.digits

#: id prefix -> the object type it names; used to resolve ids when expanding.
PREFIX_KINDS: dict[str, str] = {
    "cus": "customer",
    "prod": "product",
    "price": "price",
    "promo": "promotion_code",
    "cs": "checkout.session",
    "bps": "billing_portal.session",
    "sub": "subscription",
    "si": "subscription_item",
    "in": "invoice",
    "inpay": "invoice_payment",
    "ii": "invoiceitem",
    "il": "line_item",
    "pi": "payment_intent",
    "ch": "charge",
    "re": "refund",
    "du": "dispute",
    "txn": "balance_transaction",
    "pm": "payment_method",
    "evt": "event",
    "we": "webhook_endpoint",
    "di": "discount",
}

#: Human names used in "No such ..." messages.
KIND_NAMES: dict[str, str] = {
    "checkout.session": "checkout.session",
    "billing_portal.session": "billing_portal.session",
    "payment_intent": "payment_intent",
    "promotion_code": "promotion code",
    "webhook_endpoint": "webhook endpoint",
    "invoiceitem": "invoiceitem",
}


class IdFactory:
    """Stripe-looking ids; seeded, the sequence is the same on every run."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - ids, not secrets

    def token(self, length: int) -> str:
        return "".join(self._rng.choice(_ALPHABET) for _ in range(length))

    def new(self, prefix: str, length: int = 24) -> str:
        return f"{prefix}_{self.token(length)}"

    def secret(self, prefix: str) -> str:
        return f"{prefix}_{self.token(32)}"


class Store:
    def __init__(self, *, seed: int | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.ids = IdFactory(seed)
        self.objects: dict[str, dict[str, Obj]] = {}
        self.private: dict[str, dict[str, Any]] = {}
        self.base_url = "http://127.0.0.1"
        self.billing = BillingSettings()
        self._change_listeners: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ objects

    def new_id(self, prefix: str, length: int = 24) -> str:
        while True:
            candidate = self.ids.new(prefix, length)
            if self.find(candidate) is None:
                return candidate

    def add(self, obj: Obj) -> Obj:
        self.objects.setdefault(obj["object"], {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> Obj | None:
        return self.objects.get(kind, {}).get(object_id)

    def all(self, kind: str) -> list[Obj]:
        """Objects of one type, newest first (creation order breaks ties)."""
        items = list(self.objects.get(kind, {}).values())
        items.reverse()
        items.sort(key=lambda o: o.get("created", 0), reverse=True)
        return items

    def iter(self, kind: str) -> Iterator[Obj]:
        """Objects of one type in creation order (oldest first)."""
        return iter(list(self.objects.get(kind, {}).values()))

    def find(self, object_id: str) -> Obj | None:
        """The object with this id, whatever its type."""
        kind = PREFIX_KINDS.get(object_id.split("_", 1)[0])
        if kind is not None:
            found = self.get(kind, object_id)
            if found is not None:
                return found
        return self.get("coupon", object_id)

    def hidden(self, object_id: str) -> dict[str, Any]:
        return self.private.setdefault(object_id, {})

    # ------------------------------------------------------------------ persistence

    def on_change(self, listener: Callable[[], None]) -> None:
        self._change_listeners.append(listener)

    def changed(self) -> None:
        for listener in self._change_listeners:
            listener()

    def reset(self) -> None:
        self.objects.clear()
        self.private.clear()
        self.clock.offset = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "clock_offset": self.clock.offset,
            "clock_frozen_at": self.clock.frozen_at,
            "objects": self.objects,
            "private": self.private,
        }

    def restore(self, data: dict[str, Any]) -> None:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(
                f"unsupported emulator state format {data.get('format')!r}: the file was "
                "saved by another version of the emulator; delete it to start afresh"
            )
        self.objects = data["objects"]
        self.private = data["private"]
        self.clock.offset = float(data["clock_offset"])
        self.clock.frozen_at = data.get("clock_frozen_at")

    def save(self, path: Path) -> None:
        # Key order is creation order, which lists rely on: never sort keys.
        payload = json.dumps(self.snapshot())
        # Written beside the target and renamed, so a crash never leaves half a file.
        fd, tmp = tempfile.mkstemp(prefix=".emulator-", dir=path.parent or Path("."))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, path: Path) -> None:
        self.restore(json.loads(path.read_text(encoding="utf-8")))
