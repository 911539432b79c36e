"""``manage.py stripe_emulator`` wires the emulator to the project's webhook URL and secret."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_status(port: int, key: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/customers", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code)


def test_it_serves_the_api_and_stops_on_ctrl_c():
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "django",
            "stripe_emulator",
            "--port",
            str(port),
            "--site",
            "http://127.0.0.1:8123",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert lines[0].startswith(
            f"Stripe emulator (API 2026-10-28.endive) listening on http://127.0.0.1:{port}"
        )
        assert (
            lines[1].strip()
            == "Delivering events to http://127.0.0.1:8123/billing/stripe/webhook/"
        )
        # The project's key (tests.settings: sk_test_fiko) is accepted, no other.
        assert api_status(port, "sk_test_fiko") == 200
        assert api_status(port, "sk_test_emulator") == 401
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Stripe emulator stopped" in output


def test_without_a_webhook_secret_it_says_what_to_set(settings):
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "STRIPE_WEBHOOK_SECRET": ""}
    with pytest.raises(CommandError, match=r"FIKO_BILLING\['STRIPE_WEBHOOK_SECRET'\] is empty"):
        call_command("stripe_emulator", "--port", "1")


def test_a_live_key_is_refused(settings):
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "STRIPE_SECRET_KEY": "sk_live_abc",
        "TEST_MODE": False,
    }
    with pytest.raises(CommandError, match="test-mode secret keys only"):
        call_command("stripe_emulator", "--port", "1")
