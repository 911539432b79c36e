#!/usr/bin/env python3
"""``make demo``: the example project and the Stripe emulator, started together.

Run from anywhere with the project's virtualenv: ``.venv/bin/python scripts/demo.py``.
It migrates the example project's database, loads the demo catalogue, starts
the Stripe emulator (``python -m fiko_billing.emulator``), pushes the
catalogue to it, creates the promotion code, starts the development server,
and prints where to go. Ctrl-C (or SIGTERM) stops both servers.

Environment: ``DEMO_PORT`` (8000) and ``EMULATOR_PORT`` (12111) choose the
ports; ``DATABASE_URL`` the database (default ``example_project/db.sqlite3``);
``DEMO_EMULATOR_STATE`` the file where the emulator keeps its objects (default
``example_project/.emulator-state.json``). The database and that file belong
together: ``--reset`` starts both afresh.

Only the standard library is used here; Django runs in the child processes.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "example_project"
DEFAULT_DATABASE = PROJECT / "db.sqlite3"
DEFAULT_STATE = PROJECT / ".emulator-state.json"

# The example project's plain-data module. This script is named demo.py too,
# so the project's directory goes first on the path.
sys.path.insert(0, str(PROJECT))
hints = importlib.import_module("demo.hints")
envfile = importlib.import_module("example_project.envfile")

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: stop what was started and leave."""


class StepFailed(Exception):
    """A step of the start-up failed; the message says which and why."""


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if this script is killed
    # without a chance to clean up, the kernel stops the child too.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Children:
    """The processes this script started, stopped newest first."""

    def __init__(self, env: dict[str, str], verbose: bool) -> None:
        self.env = env
        self.verbose = verbose
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def _spawn(self, args: Sequence[str], *, quiet_stdout: bool) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(args),
            cwd=PROJECT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if quiet_stdout and not self.verbose else None,
            # Its own session: a Ctrl-C in the terminal reaches this script
            # only, which then stops the children in order.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def start(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        process = self._spawn(args, quiet_stdout=True)
        self.running.append((name, process))
        return process

    def run(self, name: str, args: Sequence[str]) -> None:
        """Run a short step to its end; its output is shown only if it fails."""
        process = subprocess.Popen(
            list(args),
            cwd=PROJECT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=None if self.verbose else subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.running.append((name, process))
        output, _ = process.communicate()
        self.running.remove((name, process))
        if process.returncode != 0:
            shown = output.decode(errors="replace").rstrip() if output else ""
            raise StepFailed(f"{name} failed (exit status {process.returncode})\n{shown}")

    def first_exited(self) -> tuple[str, int] | None:
        for name, process in self.running:
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop_all(self) -> None:
        while self.running:
            name, process = self.running.pop()
            _stop(name, process)


def _stop(name: str, process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # SIGINT is the Ctrl-C both servers expect; SIGKILL only if one hangs.
    for sig, wait in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            print(f"   {name} did not stop within {wait:.0f} s", flush=True)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until_answering(url: str, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StepFailed(f"{name} exited with status {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own local URL
                return
        except urllib.error.HTTPError:
            return  # it answered, if not with a 200
        except OSError:
            time.sleep(0.1)
    raise StepFailed(f"{name} did not answer at {url} within {START_TIMEOUT:.0f} s")


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Later signals must not interrupt the clean-up the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Interrupted


def sqlite_file(database_url: str | None) -> Path | None:
    """The SQLite file the project will use, if it uses one."""
    if not database_url:
        return DEFAULT_DATABASE
    if not database_url.startswith("sqlite:///"):
        return None
    # sqlite:////abs/path is absolute; sqlite:///name is relative to manage.py's directory.
    path = Path(database_url.removeprefix("sqlite:///"))
    return path if path.is_absolute() else PROJECT / path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.py",
        description="Run the fiko-billing example project against the local Stripe emulator.",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="forget the emulator's state and empty the demo database first",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the output of every step and server"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    # What manage.py will read, read here too: the ports and the database.
    envfile.load_env_file(PROJECT / ".env")
    demo_port = int(os.environ.get("DEMO_PORT") or hints.DEFAULT_DEMO_PORT)
    emulator_port = int(os.environ.get("EMULATOR_PORT") or hints.DEFAULT_EMULATOR_PORT)
    state = Path(os.environ.get("DEMO_EMULATOR_STATE") or DEFAULT_STATE)
    site = f"http://127.0.0.1:{demo_port}"
    emulator = f"http://127.0.0.1:{emulator_port}"

    if demo_port == emulator_port:
        print(
            f"DEMO_PORT and EMULATOR_PORT are both {demo_port}: give each server its own port.",
            file=sys.stderr,
        )
        return 1
    for port, variable in ((demo_port, "DEMO_PORT"), (emulator_port, "EMULATOR_PORT")):
        if not port_is_free(port):
            print(f"Port {port} is in use: set {variable} to a free port.", file=sys.stderr)
            return 1

    database = sqlite_file(os.environ.get("DATABASE_URL"))
    flush = False
    if args.reset:
        state.unlink(missing_ok=True)
        if database is not None:
            database.unlink(missing_ok=True)
        else:
            flush = True
    elif database == DEFAULT_DATABASE and database.exists() and not state.exists():
        # The database names Stripe objects that only the lost state held.
        print("No emulator state beside the demo database: starting both afresh.", flush=True)
        database.unlink()

    env = {
        **os.environ,
        "DEMO_PORT": str(demo_port),
        "EMULATOR_PORT": str(emulator_port),
        "SITE_URL": site,
        # The demo always talks to the emulator, whatever keys .env holds.
        "STRIPE_API_BASE": emulator,
        "STRIPE_SECRET_KEY": hints.EMULATOR_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": hints.EMULATOR_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": hints.EMULATOR_WEBHOOK_SECRET,
        "STRIPE_ENABLED": "true",
        "STRIPE_TEST_MODE": "true",
        "PYTHONUNBUFFERED": "1",
    }
    python = sys.executable
    children = Children(env, verbose=args.verbose)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        print(f"Starting the Stripe emulator on {emulator} ...", flush=True)
        emulator_process = children.start(
            "the Stripe emulator",
            [
                python,
                "-m",
                "fiko_billing.emulator",
                "--port",
                str(emulator_port),
                "--webhook-url",
                f"{site}/billing/stripe/webhook/",
                "--webhook-secret",
                hints.EMULATOR_WEBHOOK_SECRET,
                "--api-key",
                hints.EMULATOR_SECRET_KEY,
                "--state",
                str(state),
            ],
        )
        manage = [python, "manage.py"]
        print("Migrating the database and loading the demo catalogue ...", flush=True)
        children.run("migrate", [*manage, "migrate", "--noinput"])
        if flush:
            children.run("flush", [*manage, "flush", "--noinput"])
        children.run("load_demo_catalogue", [*manage, "load_demo_catalogue"])
        # The server starts before the catalogue is pushed, so the emulator's
        # webhooks about it find someone listening.
        print(f"Starting the development server on {site} ...", flush=True)
        server = children.start(
            "the development server",
            # --insecure serves the page's CSS and scripts even with DEBUG off.
            [*manage, "runserver", f"127.0.0.1:{demo_port}", "--noreload", "--insecure"],
        )
        wait_until_answering(f"{emulator}/", emulator_process, "the Stripe emulator")
        print("Pushing the catalogue and the promotion code to the emulator ...", flush=True)
        try:
            children.run("sync_stripe_products", [*manage, "sync_stripe_products"])
        except StepFailed as exc:
            raise StepFailed(
                f"{exc}\nIf the database refers to Stripe objects the emulator no longer "
                "has, start afresh: scripts/demo.py --reset (make demo DEMO_ARGS=--reset)."
            ) from exc
        children.run("create_demo_promotion", [*manage, "create_demo_promotion"])
        wait_until_answering(f"{site}/", server, "the development server")
        print_banner(site, emulator, state, time.monotonic() - started)
        while True:
            exited = children.first_exited()
            if exited is not None:
                name, code = exited
                print(f"{name} exited with status {code}; stopping the demo.", file=sys.stderr)
                return 1
            time.sleep(0.2)
    except Interrupted:
        print("\nStopping the demo ...", flush=True)
        return 0
    except StepFailed as exc:
        print(f"\nThe demo could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        children.stop_all()
        print("Demo stopped.", flush=True)


def print_banner(site: str, emulator: str, state: Path, seconds: float) -> None:
    cards = [f"{number}  {outcome}" for number, outcome in hints.TEST_CARDS]
    lines = [
        "",
        f"  fiko-billing demo is ready: {site}/   (started in {seconds:.1f} s)",
        "",
        "  Log in as        "
        + "  or  ".join(f"{name} / {password}" for name, password in hints.DEMO_USERS)
        + '  ("Switch to ..." changes user)',
        f"  Test cards       {cards[0]}",
        *(f"                   {card}" for card in cards[1:]),
        f"                   with {hints.CARD_DETAILS}",
        f"  Promotion code   {hints.PROMOTION_CODE} "
        f"({hints.PROMOTION_PERCENT_OFF}% off the first payment)",
        f"  Stripe emulator  {emulator}  (state: {_shown(state)})",
        "  The seed's request, with the demo's API token:",
        f"                   curl -X POST {site}/billing/stripe/checkout-session/ \\",
        f'                     -H "Authorization: Bearer {hints.DEMO_API_TOKEN}" \\',
        '                     -H "Content-Type: application/json" \\',
        '                     -d \'{"plan_type": "full", "plan_id": 1}\'',
        "  Stripe's clock, webhooks, reset: the developer panel at the bottom of the page,",
        f"                   or curl -X POST {emulator}/_emulator/clock/advance -d days=31",
        "",
        "  Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
