"""``scripts/demo.py`` run as a user runs it: a child process on free ports, watched and stopped.

The demo starts the Stripe emulator and the example project's ``runserver``
as its own children; it gets its own SQLite file and emulator state in a
temporary directory, and none of the calling shell's settings.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "example_project"
DEMO_SCRIPT = ROOT / "scripts" / "demo.py"

# Variables of the calling shell (and of this test run) that would change what
# the example project sees; each child gets exactly the environment built here.
HOST_ENV_PREFIXES = ("STRIPE_", "FIKO_", "DJANGO_", "DEMO_", "EMULATOR_")
HOST_ENV_NAMES = frozenset({"DATABASE_URL", "SITE_URL", "PYTHONPATH"})

READY = re.compile(r"fiko-billing demo is ready: (\S+)")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def children_of(pid: int) -> dict[int, str]:
    """Live processes whose parent is ``pid``, with their command lines (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # The parent pid is the 2nd field after the parenthesised command name.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = cmdline
    return found


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Output:
    """The demo's combined output, read on a thread so its pipe never fills."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            found = pattern.search(line)
            if found:
                return found
        raise AssertionError(f"the demo never printed {pattern.pattern!r}:\n{self.text()}")

    def drain(self, timeout: float) -> None:
        self._thread.join(timeout)
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)


def project_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The example project's environment: this one without the host's settings, on its own DB."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(HOST_ENV_PREFIXES) and name not in HOST_ENV_NAMES
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def stop_demo(process: subprocess.Popen[str], children: dict[int, str]) -> list[str]:
    """SIGINT, as Ctrl-C; SIGKILL if it hangs. Returns the children that outlived it."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)
    survivors = [command for pid, command in children.items() if is_running(pid)]
    for pid in children:
        if is_running(pid):
            os.kill(pid, signal.SIGKILL)
    return survivors


@dataclass
class RunningDemo:
    process: subprocess.Popen[str]
    output: Output
    site: str
    emulator: str
    ports: tuple[int, int]
    # The demo's children once it was ready: the emulator and the project's server.
    children: dict[int, str]
    env: dict[str, str]
    # Set when run_demo() stops the demo: the children that outlived it.
    survivors: list[str] = field(default_factory=list)


@contextmanager
def run_demo(tmp_path: Path, demo_port: int, emulator_port: int) -> Iterator[RunningDemo]:
    """The demo, once it printed that it is ready; stopped (and its output read) on leaving."""
    env = project_env(
        tmp_path,
        DEMO_PORT=str(demo_port),
        EMULATOR_PORT=str(emulator_port),
        DEMO_EMULATOR_STATE=str(tmp_path / "emulator-state.json"),
    )
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(DEMO_SCRIPT)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    output = Output(process.stdout)
    children: dict[int, str] = {}
    running: RunningDemo | None = None
    try:
        site = output.wait_for(READY, START_TIMEOUT).group(1).rstrip("/")
        children = children_of(process.pid)
        running = RunningDemo(
            process=process,
            output=output,
            site=site,
            emulator=f"http://127.0.0.1:{emulator_port}",
            ports=(demo_port, emulator_port),
            children=children,
            env=env,
        )
        yield running
    finally:
        survivors = stop_demo(process, children)
        if running is not None:
            running.survivors = survivors
        output.drain(10)
        process.stdout.close()
