"""Which functions handle which Stripe event type: ours, and those a host project adds.

Our handlers are one table (``fiko_billing.webhooks.handlers.HANDLERS``),
installed when the app is ready; at most one of ours per type. A host project
adds its own with ``fiko_billing.webhooks.register_handler`` (or the
``on_event`` decorator), any number per type, in its ``AppConfig.ready``.
Every handler of an event runs in the transaction that marks the event
processed, ours first, then the host's in the order they were added: a
handler that raises rolls all of them back, and the retry runs all of them
again, so each runs to completion exactly once per event.

Registering the same thing twice is a mistake, never silently resolved:
a second handler of ours for one type, or one host handler added twice for
the same type, raises ``ImproperlyConfigured``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from fiko_billing.models import WebhookEvent

#: ``handler(data_object, event)``: the event's ``data.object`` and its stored row.
#: The object's shape depends on the event type (see ``fiko_billing.stripe_shapes``),
#: so a handler may declare the one its event type carries.
Handler = Callable[[Any, "WebhookEvent"], None]


class HandlerRegistry:
    def __init__(self) -> None:
        self._ours: dict[str, Handler] = {}
        self._added: dict[str, list[Handler]] = {}

    def install(self, table: Iterable[tuple[str, Handler]]) -> None:
        """Install our handlers (once, when the app is ready)."""
        for event_type, handler in table:
            if event_type in self._ours:
                if self._ours[event_type] is handler:
                    continue  # ready() ran again (a test runner's second setup)
                raise ImproperlyConfigured(
                    f"Two fiko_billing handlers for {event_type!r}: "
                    f"{_name(self._ours[event_type])} and {_name(handler)}."
                )
            self._ours[event_type] = handler

    def add(self, event_type: str, handler: Handler) -> None:
        """Run ``handler`` for every ``event_type`` event, after ours, in their transaction."""
        if not isinstance(event_type, str) or not event_type or event_type.strip() != event_type:
            raise ImproperlyConfigured(f"Not a Stripe event type: {event_type!r}.")
        if not callable(handler):
            raise ImproperlyConfigured(f"A webhook handler must be callable, not {handler!r}.")
        added = self._added.setdefault(event_type, [])
        if handler in added:
            raise ImproperlyConfigured(
                f"{_name(handler)} is already registered for {event_type!r}; "
                "register each handler once (in AppConfig.ready)."
            )
        added.append(handler)

    def remove(self, event_type: str, handler: Handler) -> None:
        """Stop running an added handler (tests, or a host undoing its own ``add``)."""
        added = self._added.get(event_type, [])
        if handler not in added:
            raise LookupError(f"{_name(handler)} is not registered for {event_type!r}.")
        added.remove(handler)

    def handlers_for(self, event_type: str) -> list[Handler]:
        """Ours, then the host's in the order they were added; empty if nobody handles it."""
        ours = self._ours.get(event_type)
        return [*([ours] if ours is not None else []), *self._added.get(event_type, [])]

    def handled_event_types(self) -> list[str]:
        """Every type with a handler, for the webhook endpoint's ``enabled_events``."""
        added = {event_type for event_type, handlers in self._added.items() if handlers}
        return sorted(set(self._ours) | added)


def _name(handler: object) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', handler)}"


#: The one registry of the process.
handlers = HandlerRegistry()


def handled_event_types() -> list[str]:
    return handlers.handled_event_types()
