"""What every handler and flow works with: the state and the event log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fiko_billing.emulator.events import EventLog
from fiko_billing.emulator.store import Store


@dataclass
class Ctx:
    store: Store
    events: EventLog
    #: What Stripe does a moment after the current request or page answers
    #: (a test card's dispute), run by ``run_deferred`` once it has answered.
    deferred: list[Callable[[], object]] = field(default_factory=list)

    def defer(self, action: Callable[[], object]) -> None:
        self.deferred.append(action)

    def run_deferred(self) -> None:
        while self.deferred:
            self.deferred.pop(0)()

    def now(self) -> int:
        return self.store.clock.now()

    def new_id(self, prefix: str, length: int = 24) -> str:
        return self.store.new_id(prefix, length)

    @property
    def base_url(self) -> str:
        return self.store.base_url
