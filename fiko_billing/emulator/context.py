"""What every handler and flow works with: the state and the event log."""

from __future__ import annotations

from dataclasses import dataclass

from fiko_billing.emulator.events import EventLog
from fiko_billing.emulator.store import Store


@dataclass
class Ctx:
    store: Store
    events: EventLog

    def now(self) -> int:
        return self.store.clock.now()

    def new_id(self, prefix: str, length: int = 24) -> str:
        return self.store.new_id(prefix, length)

    @property
    def base_url(self) -> str:
        return self.store.base_url
