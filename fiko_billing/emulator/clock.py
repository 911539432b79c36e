"""The emulator's time: real time plus an offset that only moves forward.

Every ``created``, period and due timestamp comes from here, so advancing the
clock ages the whole state the way Stripe's test clocks do. While a due item is
processed (a renewal, a retry) the clock is pinned to that item's due time, so
objects created by it carry the time at which Stripe would have created them.
"""

from __future__ import annotations

import calendar
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

DAY = 86_400


class Clock:
    """``frozen_at`` stops real time from passing (tests assert exact timestamps)."""

    def __init__(self, offset: float = 0.0, frozen_at: int | None = None) -> None:
        self.offset = offset
        self.frozen_at = frozen_at
        self._pinned: int | None = None
        self._lock = threading.Lock()

    def now(self) -> int:
        if self._pinned is not None:
            return self._pinned
        base = time.time() if self.frozen_at is None else self.frozen_at
        return int(base + self.offset)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self.offset += seconds

    @contextmanager
    def pinned(self, timestamp: int) -> Iterator[None]:
        previous = self._pinned
        self._pinned = timestamp
        try:
            yield
        finally:
            self._pinned = previous


def add_months(timestamp: int, months: int, anchor_day: int) -> int:
    """``timestamp`` moved by whole months, on ``anchor_day`` or the month's last day.

    Stripe keeps a monthly subscription on its anchor day: a period that
    started on 31 January ends on 28/29 February, and the next one on 31 March.
    """
    moment = datetime.fromtimestamp(timestamp, UTC)
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(anchor_day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def period_end(start: int, interval: str, count: int, anchor: int) -> int:
    """The end of the period starting at ``start`` for a price's ``recurring`` interval."""
    if interval == "day":
        return start + count * DAY
    if interval == "week":
        return start + count * 7 * DAY
    anchor_day = datetime.fromtimestamp(anchor, UTC).day
    months = count * (12 if interval == "year" else 1)
    return add_months(start, months, anchor_day)
