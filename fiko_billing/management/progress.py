"""Output helpers shared by the management commands.

``Progress`` redraws one line (count, total, rate) while a command works, but
only on a terminal: in a log file or a pipe the redraws would be noise, so it
stays silent there. ``format_table`` renders the plain-text summary a command
prints at the end, readable in a terminal and in a CI log alike.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Protocol

from django.core.management.base import OutputWrapper


class TextStream(Protocol):
    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


def is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


def _write(stream: TextStream | OutputWrapper, text: str) -> None:
    if isinstance(stream, OutputWrapper):
        # OutputWrapper appends a newline unless told otherwise.
        stream.write(text, ending="")
    else:
        stream.write(text)
    stream.flush()


class Progress:
    """``label: done/total (rate/s) note``, redrawn in place on a terminal.

    Call ``update`` after each unit of work and ``finish`` at the end (or use
    it as a context manager). ``enabled`` defaults to whether ``stream`` is a
    terminal; ``clock`` is injectable so the rate can be checked exactly.
    """

    def __init__(
        self,
        stream: TextStream | OutputWrapper,
        *,
        label: str,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
    ) -> None:
        self.stream = stream
        self.label = label
        self.enabled = is_terminal(stream) if enabled is None else enabled
        self.clock = clock
        self.width = width
        self.started = clock()
        self._drawn = 0

    def line(self, done: int, total: int | None = None, note: str = "") -> str:
        """The text ``update`` draws, without the carriage return."""
        elapsed = self.clock() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        counter = f"{done}/{total}" if total is not None else str(done)
        text = f"{self.label}: {counter} ({rate:.1f}/s)"
        if note:
            text = f"{text} {note}"
        # A line longer than the terminal wraps, and "\r" then redraws only
        # its last part; cut it instead.
        width = self.width or shutil.get_terminal_size((80, 24)).columns
        return text[: max(width - 1, 1)]

    def update(self, done: int, total: int | None = None, note: str = "") -> None:
        if not self.enabled:
            return
        text = self.line(done, total, note)
        # Pad over the tail of a longer previous line.
        _write(self.stream, "\r" + text.ljust(self._drawn))
        self._drawn = len(text)

    def finish(self) -> None:
        """End the progress line so the next output starts on a fresh one."""
        if self.enabled and self._drawn:
            _write(self.stream, "\n")
        self._drawn = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.finish()


def format_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Left-aligned columns two spaces apart, a rule under the headers."""
    body = [[str(cell) for cell in row] for row in rows]
    for number, row in enumerate(body, 1):
        if len(row) != len(headers):
            raise ValueError(f"row {number} has {len(row)} cells, expected {len(headers)}")
    widths = [len(header) for header in headers]
    for row in body:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    lines = [render(list(headers)), render(["-" * width for width in widths])]
    lines.extend(render(row) for row in body)
    return "\n".join(line.rstrip() for line in lines)
