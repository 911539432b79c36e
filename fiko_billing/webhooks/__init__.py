"""Stripe webhooks: the endpoint, our handlers, and the hook for a host's own handlers.

    from fiko_billing.webhooks import on_event

    @on_event("invoice.paid")
    def note_invoice(invoice: dict, event: WebhookEvent) -> None: ...

Register in your ``AppConfig.ready`` (see the "Webhooks" page of the docs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fiko_billing.services.events.registry import Handler


def register_handler(event_type: str, handler: Handler) -> None:
    """Run ``handler(data_object, event)`` for each ``event_type`` event, once, after ours.

    It runs in the transaction that marks the event processed: if it raises,
    everything the event did is rolled back and the event is retried with
    every handler. Several handlers per type run in the order they were added.
    """
    from fiko_billing.services.events.registry import handlers

    handlers.add(event_type, handler)


def on_event(*event_types: str) -> Callable[[Handler], Handler]:
    """Decorator form of ``register_handler`` for one or more event types."""

    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            register_handler(event_type, handler)
        return handler

    return register


__all__ = ["on_event", "register_handler"]
