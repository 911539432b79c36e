"""Stripe events as an application service: store each once, process each exactly once.

The webhook endpoint, ``sync_stripe_events``, ``process_webhook_events`` and
the task entry point are adapters around this package; none of them holds
event logic. Importing it registers the waker of ``services.waiting``.
"""

from fiko_billing.services.events import registry
from fiko_billing.services.events.delivery import EventShapeError, Stored, receive, store_event
from fiko_billing.services.events.outcomes import Outcome
from fiko_billing.services.events.processing import process_event, wake
from fiko_billing.services.events.registry import handled_event_types

__all__ = [
    "EventShapeError",
    "Outcome",
    "Stored",
    "handled_event_types",
    "process_event",
    "receive",
    "registry",
    "store_event",
    "wake",
]
