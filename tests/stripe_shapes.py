"""Stripe objects our webhook tests need, built by the emulator's own shape builders.

``fiko_billing.testing.payloads`` has no refund yet; these come from the
emulator, whose shapes are checked against the SDK's types.
"""

from __future__ import annotations

from typing import Any

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.events import EventLog
from fiko_billing.emulator.shapes import payments
from fiko_billing.emulator.store import Store

_ctx = Ctx(Store(seed=5), EventLog(Store(seed=5)))


def refund(
    *,
    charge: dict[str, Any],
    amount: int,
    status: str = "succeeded",
    refund_id: str | None = None,
) -> dict[str, Any]:
    """A refund of ``charge`` (a charge as ``payloads.charge`` builds it)."""
    source = {"payment_method": None, **charge}
    obj = payments.refund(
        _ctx, source, amount, {"metadata": {}}, balance_transaction=_ctx.new_id("txn")
    )
    obj["status"] = status
    if refund_id is not None:
        obj["id"] = refund_id
    return obj
