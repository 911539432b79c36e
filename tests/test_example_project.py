"""The example project and ``scripts/demo.py``, run as a user runs them: in subprocesses.

The example project has its own settings, which cannot be loaded inside the
test settings, so every test here starts ``manage.py`` or the demo script as a
child process, on its own SQLite file in a temporary directory (whatever
``DATABASE_URL`` the suite itself runs on).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from tests.demo_process import (
    DEMO_SCRIPT,
    PROJECT,
    ROOT,
    RunningDemo,
    is_running,
    project_env,
    run_demo,
)

pytestmark = pytest.mark.skipif(
    not (PROJECT / "manage.py").is_file() or not DEMO_SCRIPT.is_file(),
    reason="example_project/ and scripts/ are not part of this checkout (an sdist)",
)

BILLING_PAGE_HOOKS = [
    "user-area",
    "error",
    "notice",
    "plan-name",
    "plan-status",
    "days-remaining",
    "token-balance",
    "token-progress",
    "portal-button",
    "cancel-button",
    "resume-button",
    "use-tokens-button",
    "currency-select",
    "plan-subscribe-monthly",
    "plan-subscribe-yearly",
    "plan-switch-monthly",
    "plan-switch-yearly",
    "package-quantity-1000-tokens",
    "package-buy-1000-tokens",
    "package-quantity-100000-tokens",
    "package-buy-100000-tokens",
    "transactions",
    "promotion-code",
]


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


# ---------------------------------------------------------------------- manage.py


def test_the_example_project_passes_its_system_checks(tmp_path: Path) -> None:
    output = manage(project_env(tmp_path), "check", "--fail-level", "WARNING")

    assert output.strip() == "System check identified no issues (0 silenced)."


CATALOGUE_MODELS = ["fiko_billing.product", "fiko_billing.price"]


def _dump(env: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        manage(env, "dumpdata", *CATALOGUE_MODELS, "auth.user")
    )
    return rows


def test_load_demo_catalogue_is_idempotent(tmp_path: Path) -> None:
    env = project_env(tmp_path)
    manage(env, "migrate", "--noinput")

    first_output = manage(env, "load_demo_catalogue")
    first = _dump(env)
    second_output = manage(env, "load_demo_catalogue")
    second = _dump(env)

    assert "created plan 'Monthly'" in first_output
    assert "created superuser 'demo'" in first_output
    assert "created user 'alice' (password 'alice')" in first_output
    # Nothing written the second time: not even a `modified` timestamp moved.
    assert second == first
    assert second_output.splitlines() == [
        "unchanged plan 'Monthly'",
        "unchanged plan 'Yearly'",
        "unchanged token package '1,000 tokens'",
        "unchanged token package '100,000 tokens'",
        "superuser 'demo' already exists",
        "user 'alice' already exists",
    ]
    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in second:
        by_model.setdefault(row["model"], []).append(row["fields"])
    # One table of products, each dumped as its kind's (proxy) model.
    plans = {(p["name"], p["interval"], p["tokens"]) for p in by_model["fiko_billing.plan"]}
    assert plans == {("Monthly", "month", 10_000), ("Yearly", "year", 10_000)}
    packages = {
        (p["name"], p["tokens"], p["interval"]) for p in by_model["fiko_billing.tokenpackage"]
    }
    assert packages == {("1,000 tokens", 1_000, ""), ("100,000 tokens", 100_000, "")}
    prices = sorted(
        (p["currency"], p["unit_amount"]) for p in by_model["fiko_billing.price"] if p["active"]
    )
    assert prices == [
        ("eur", 100),
        ("eur", 500),
        ("eur", 1000),
        ("eur", 5000),
        ("usd", 100),
        ("usd", 500),
        ("usd", 1000),
        ("usd", 5000),
    ]
    users = [(u["username"], u["is_superuser"]) for u in by_model["auth.user"]]
    assert users == [("demo", True), ("alice", False)]


def test_the_page_has_a_message_for_every_error_code_of_the_api() -> None:
    table = (ROOT / "docs" / "http_api.md").read_text().split("## Errors", 1)[1]
    table = table.split("\n## ", 1)[0]
    documented = set()
    for line in table.splitlines():
        if re.match(r"\| \d{3} \|", line):
            documented.update(re.findall(r"`([a-z_]+)`", line.split("|")[2]))
    script = (PROJECT / "demo" / "static" / "demo" / "api.js").read_text()
    block = script.split("const MESSAGES = {", 1)[1].split("\n  };", 1)[0]
    mapped = set(re.findall(r"^    ([a-z_]+):", block, flags=re.MULTILINE))

    assert len(documented) >= 19  # the table was found and read
    assert documented - mapped == set()
    # The demo's own view answers this code too.
    assert "insufficient_tokens" in mapped


# ---------------------------------------------------------------------- scripts/demo.py


def free_ports(count: int) -> list[int]:
    from scripts import ports  # scripts/ is not in an sdist: only after the skip above

    try:
        return ports.free_ports(count)
    except OSError as exc:
        pytest.skip(f"cannot bind a local TCP port for the demo's servers: {exc}")


def assert_stops_cleanly(demo: RunningDemo, signum: signal.Signals) -> None:
    kinds = sorted(
        "emulator" if "-m fiko_billing.emulator" in command else "server"
        for command in demo.children.values()
        if "-m fiko_billing.emulator" in command or " runserver " in command
    )
    assert kinds == ["emulator", "server"], demo.children

    demo.process.send_signal(signum)

    assert demo.process.wait(30) == 0
    demo.output.drain(10)
    assert "Demo stopped." in demo.output.text()
    assert [pid for pid in demo.children if is_running(pid)] == []
    for port in demo.ports:
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", port))


class FormReader(HTMLParser):
    """The hosted Checkout page's payment form: its action and named fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = values.get("action", "")
            self._in_form = True
        elif self._in_form and tag == "input" and "name" in values:
            self.fields[values["name"]] = values.get("value", "")
        elif self._in_form and tag == "button" and "name" in values:
            self.buttons[values.get("id", values["name"])] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def csrf_header(browser: requests.Session) -> dict[str, str]:
    token = browser.cookies.get("csrftoken")
    assert token, "the page set no csrftoken cookie"
    return {"X-CSRFToken": token}


def log_in(site: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{site}/accounts/login/", timeout=10)
    assert form.status_code == 200
    answer = browser.post(
        f"{site}/accounts/login/",
        data={
            "username": "demo",
            "password": "demo",
            "csrfmiddlewaretoken": csrf_header(browser)["X-CSRFToken"],
            "next": "/",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/"
    return browser


def test_demo_runs_a_token_purchase_end_to_end_and_stops_on_sigint(tmp_path: Path) -> None:
    with run_demo(tmp_path, *free_ports(2)) as demo:
        buy_1000_tokens(demo.site, demo.emulator)
        assert_stops_cleanly(demo, signal.SIGINT)


def test_demo_stops_everything_on_sigterm(tmp_path: Path) -> None:
    with run_demo(tmp_path, *free_ports(2)) as demo:
        assert requests.get(f"{demo.site}/", timeout=10).status_code == 200
        assert_stops_cleanly(demo, signal.SIGTERM)


def test_the_seeds_curl_request_answers_id_and_url(tmp_path: Path) -> None:
    """POST /billing/stripe/checkout-session/ with a Bearer token, as the seed shows it."""
    with run_demo(tmp_path, *free_ports(2)) as demo:
        demo.output.wait_for(re.compile(r"Authorization: Bearer demo-token"), 10)
        plan_id = requests.get(f"{demo.site}/billing/plans/", timeout=10).json()["plans"][0]["id"]
        response = requests.post(
            f"{demo.site}/billing/stripe/checkout-session/",
            headers={"Authorization": "Bearer demo-token"},
            json={"plan_type": "full", "plan_id": plan_id},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert sorted(body) == ["id", "url"]
        assert body["id"].startswith("cs_test_")
        assert body["url"] == f"{demo.emulator}/checkout/{body['id']}"
        wrong = requests.post(
            f"{demo.site}/billing/stripe/checkout-session/",
            headers={"Authorization": "Bearer not-the-token"},
            json={"plan_type": "full", "plan_id": plan_id},
            timeout=10,
        )
        assert wrong.status_code == 401
        assert_stops_cleanly(demo, signal.SIGINT)


def test_demo_refuses_one_port_for_both_servers(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(DEMO_SCRIPT)],
        cwd=ROOT,
        env=project_env(tmp_path, DEMO_PORT=str(port), EMULATOR_PORT=str(port)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr == (
        f"DEMO_PORT and EMULATOR_PORT are both {port}: give each server its own port.\n"
    )
    assert not (tmp_path / "db.sqlite3").exists()


def test_demo_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, str(DEMO_SCRIPT)],
            cwd=ROOT,
            env=project_env(tmp_path, DEMO_PORT=str(port), EMULATOR_PORT=str(free_ports(1)[0])),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 1
    assert result.stderr == f"Port {port} is in use: set DEMO_PORT to a free port.\n"
    assert not (tmp_path / "db.sqlite3").exists()


def buy_1000_tokens(site: str, emulator: str) -> None:
    """Log in, pay for the 1,000-token package with 4242 on the hosted page, spend some."""
    page = requests.get(f"{site}/", timeout=10)
    assert page.status_code == 200
    missing = [hook for hook in BILLING_PAGE_HOOKS if f'data-testid="{hook}"' not in page.text]
    assert missing == []
    assert "DEMO20" in page.text

    browser = log_in(site)
    csrf = csrf_header(browser)
    before = browser.get(f"{site}/billing/account/", timeout=10).json()
    assert before["token_balance"] == 0
    catalogue = browser.get(f"{site}/billing/plans/", timeout=10).json()
    (package,) = [p for p in catalogue["token_packages"] if p["tokens"] == 1_000]

    started = browser.post(
        f"{site}/billing/stripe/checkout-session/",
        json={"plan_type": "token", "plan_id": package["id"]},
        headers=csrf,
        timeout=10,
    )
    assert started.status_code == 200, started.text
    session_id, checkout_url = started.json()["id"], started.json()["url"]
    assert checkout_url.startswith(f"{emulator}/checkout/")

    hosted = requests.get(checkout_url, timeout=10)
    assert hosted.status_code == 200
    form = FormReader()
    form.feed(hosted.text)
    assert form.action is not None
    assert {"card_number", "card_expiry", "card_cvc"} <= set(form.fields)
    paid = requests.post(
        urljoin(checkout_url, form.action),
        data={
            **form.fields,
            "action": form.buttons["pay"],
            "email": "demo@example.com",
            "card_number": "4242 4242 4242 4242",
            "card_expiry": "12 / 34",
            "card_cvc": "123",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert paid.status_code in (302, 303), paid.text
    success_url = paid.headers["Location"]
    assert success_url == f"{site}/billing/success/?session_id={session_id}"
    success_page = browser.get(success_url, timeout=10)
    assert success_page.status_code == 200
    assert 'data-testid="success-status"' in success_page.text

    deadline = time.monotonic() + 30
    while True:
        status = browser.get(
            f"{site}/billing/stripe/checkout-session/{session_id}/", timeout=10
        ).json()
        if status["fulfilled"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["fulfilled"] is True
    assert status["payment"]["status"] == "succeeded"
    assert (status["payment"]["amount"], status["payment"]["currency"]) == (100, "usd")
    assert status["token_balance"] == before["token_balance"] + 1_000
    after = browser.get(f"{site}/billing/account/", timeout=10).json()
    assert after["token_balance"] == 1_000
    ledger = browser.get(f"{site}/billing/tokens/transactions/", timeout=10).json()
    assert [(e["kind"], e["amount"], e["reference"]) for e in ledger["results"]] == [
        ("purchase", 1_000, f"checkout:{session_id}")
    ]
    # The emulator signs with the secret the project verifies: its webhook got a 200.
    requests.post(f"{emulator}/_emulator/deliveries/flush", timeout=15)
    deliveries = requests.get(f"{emulator}/_emulator/deliveries", timeout=10).json()["data"]
    completed = [d for d in deliveries if d["type"] == "checkout.session.completed"]
    assert [(d["state"], d["status_codes"][-1]) for d in completed] == [("delivered", 200)]

    used = browser.post(f"{site}/demo/use-tokens/", json={}, headers=csrf, timeout=10)
    assert (used.status_code, used.json()) == (200, {"token_balance": 900})
    too_many = browser.post(
        f"{site}/demo/use-tokens/", json={"amount": 901}, headers=csrf, timeout=10
    )
    assert too_many.status_code == 409
    assert too_many.json()["error"]["code"] == "insufficient_tokens"
    forged = browser.post(f"{site}/demo/use-tokens/", json={}, timeout=10)
    assert (forged.status_code, forged.json()["error"]["code"]) == (403, "csrf_failed")
    visitor = requests.Session()
    visitor.get(f"{site}/", timeout=10)
    anonymous = visitor.post(
        f"{site}/demo/use-tokens/",
        json={},
        headers=csrf_header(visitor),
        timeout=10,
    )
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "not_authenticated")
