"""Which function handles which Stripe event type."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from fiko_billing.models import WebhookEvent

Handler = Callable[[dict[str, Any], WebhookEvent], None]

_HANDLERS: dict[str, Handler] = {}
_HANDLER_MODULES = (
    "fiko_billing.webhooks.handlers.checkout",
    "fiko_billing.webhooks.handlers.subscriptions",
    "fiko_billing.webhooks.handlers.invoices",
    "fiko_billing.webhooks.handlers.charges",
    "fiko_billing.webhooks.handlers.customers",
)
_loaded = False


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            _HANDLERS[event_type] = handler
        return handler

    return register


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in _HANDLER_MODULES:
            importlib.import_module(module)
        _loaded = True


def handler_for(event_type: str) -> Handler | None:
    _load()
    return _HANDLERS.get(event_type)


def handled_event_types() -> list[str]:
    """Every event type we process, for the webhook endpoint's ``enabled_events``."""
    _load()
    return sorted(_HANDLERS)
