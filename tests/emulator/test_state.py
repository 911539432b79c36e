"""Persistence to a JSON state file, and the command line."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fiko_billing.emulator import Emulator
from fiko_billing.emulator.__main__ import main, parse_args
from tests.emulator.conftest import START, make_client
from tests.emulator.helpers import pay, raw_api


def test_state_is_saved_on_each_change_and_loaded_at_start(tmp_path: Path) -> None:
    state = tmp_path / "stripe.json"
    with Emulator(state_file=state, frozen_at=START, seed=5) as first:
        sdk = make_client(first.url)
        customer = sdk.v1.customers.create(params={"email": "kept@example.com"})
        saved = json.loads(state.read_text())
        assert saved["format"] == 2
        assert customer.id in saved["objects"]["customer"]
        price = sdk.v1.prices.create(
            params={
                "product_data": {"name": "Kept"},
                "currency": "usd",
                "unit_amount": 900,
                "recurring": {"interval": "month"},
            }
        )
        session = sdk.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer.id,
                "line_items": [{"price": price.id, "quantity": 1}],
            }
        )
        pay(session.url)
        first.advance(days=2)
        sub_id = sdk.v1.checkout.sessions.retrieve(session.id).subscription
        event_ids = [e.id for e in sdk.v1.events.list(params={"limit": 100}).data]

    with Emulator(state_file=state, port=first.port) as second:
        sdk = make_client(second.url)
        assert sdk.v1.customers.retrieve(customer.id).email == "kept@example.com"
        sub = sdk.v1.subscriptions.retrieve(sub_id)
        assert sub.status == "active"
        assert sub.default_payment_method is not None
        assert [e.id for e in sdk.v1.events.list(params={"limit": 100}).data] == event_ids
        assert second.now() == START + 2 * 86_400
        # The saved card still behaves as its test number says.
        second.advance(days=30)
        assert sdk.v1.invoices.list(params={"subscription": sub_id}).data[0].status == "paid"


def test_unknown_state_format_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "stripe.json"
    # Format 1 kept invoice payments on the invoice, which Stripe never does.
    state.write_text(json.dumps({"format": 1}))
    with pytest.raises(ValueError, match="unsupported emulator state format 1"):
        Emulator(state_file=state)
    assert main(["--port", "0", "--state", str(state)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"The Stripe emulator cannot start: {state}: unsupported")
    assert "delete it to start afresh" in error


def test_webhook_url_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="webhook_secret"):
        Emulator(webhook_url="http://127.0.0.1:9/hook")


def test_cli_arguments() -> None:
    args = parse_args(["--port", "12112", "--retry-delays", "0.5, 2", "--max-attempts", "2"])
    assert (args.port, args.host, args.retry_delays, args.max_attempts) == (
        12112,
        "127.0.0.1",
        (0.5, 2.0),
        2,
    )
    with pytest.raises(SystemExit):
        parse_args(["--webhook-url", "http://127.0.0.1:8000/hook"])
    with pytest.raises(SystemExit):
        parse_args(["--retry-delays", "soon"])
    billing = parse_args(["--payment-retries", "2,4", "--after-retries", "unpaid"])
    assert (billing.payment_retries, billing.after_retries) == ((2.0, 4.0), "unpaid")
    assert parse_args([]).invoice_finalize_delay == 3600
    assert parse_args([]).payment_retries == (1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 14.0)
    assert parse_args(["--api-key", "sk_test_a", "--api-key", "rk_test_b"]).api_keys == (
        "sk_test_a",
        "rk_test_b",
    )
    for wrong in (
        ["--payment-retries", "4,2"],
        ["--after-retries", "deleted"],
        ["--api-key", "sk_live_x"],
    ):
        with pytest.raises(SystemExit):
            parse_args(wrong)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_serves_and_saves_on_shutdown(tmp_path: Path) -> None:
    state = tmp_path / "cli.json"
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own module
        [
            sys.executable,
            "-m",
            "fiko_billing.emulator",
            "--port",
            str(port),
            "--state",
            str(state),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.strip() == (
            f"Stripe emulator (API 2026-10-28.endive) listening on http://127.0.0.1:{port}"
        )
        created = raw_api(f"http://127.0.0.1:{port}", "POST", "/v1/customers", "name=CLI")
        assert created.status == 200
        customer_id = created.json()["id"]
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert out.strip() == "Stripe emulator stopped"
    assert customer_id in json.loads(state.read_text())["objects"]["customer"]
