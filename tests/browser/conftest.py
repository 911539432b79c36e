"""The demo in a real browser: Debian's chromium driven through Playwright.

Every test starts ``scripts/demo.py`` (the Stripe emulator and the example
project) on free ports, with its own SQLite file and emulator state in a
temporary directory, so each begins with an empty account and a fresh
emulator clock. The ``page`` fixture is a new browser context logged in as
demo/demo through the login page; whatever the outcome, the final state is
saved as ``test-results/screenshots/<test name>.png``.

The suite needs ``/usr/bin/chromium`` (``apt-get install chromium``) and the
``playwright`` package (``pip install -e .[browser]``); a downloaded browser
is never used. Without either, the tests are skipped and the reason says
which is missing.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.demo_process import DEMO_SCRIPT, PROJECT, ROOT, run_demo

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-results" / "screenshots"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright waits this long for an element or a navigation (milliseconds).
UI_TIMEOUT_MS = 20_000

CARD_SUCCEEDS = "4242 4242 4242 4242"
CARD_3D_SECURE = "4000 0025 0000 3155"
CARD_DECLINED = "4000 0000 0000 9995"
CARD_FAILS_AT_RENEWAL = "4000 0000 0000 0341"
CARD_EXPIRY = "12 / 34"

CHECKOUT_CANCELED = "Checkout canceled: nothing was charged."
CARD_CVC = "123"


PLAYWRIGHT_MISSING = "playwright not installed: pip install -e .[browser]"


def missing_requirement() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (PROJECT / "manage.py").is_file() or not DEMO_SCRIPT.is_file():
        return "example_project/ and scripts/ are not part of this checkout (an sdist)"
    if not CHROMIUM.is_file():
        return f"chromium not found at {CHROMIUM}: apt-get install chromium"
    if importlib.util.find_spec("playwright") is None:
        return PLAYWRIGHT_MISSING
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing_requirement()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


# The reports of each phase, so fixtures can tell at teardown whether the test failed.
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


def failed(node: pytest.Item) -> bool:
    return any(report.failed for report in node.stash.get(PHASE_REPORTS, {}).values())


# ---------------------------------------------------------------------- the demo


# Straight to 127.0.0.1: a proxy from the environment must not see the control calls.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Demo:
    """A running ``scripts/demo.py``: the site, the emulator and its control endpoints."""

    site: str
    emulator: str
    env: dict[str, str]

    def _call(self, method: str, path: str, body: bytes | None, content_type: str) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the emulator on 127.0.0.1
            f"{self.emulator}{path}",
            data=body,
            method=method,
            headers={"Content-Type": content_type} if body is not None else {},
        )
        try:
            with _direct.open(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as problem:
            with problem:
                raise AssertionError(
                    f"{method} {path}: HTTP {problem.code} {problem.read().decode()}"
                ) from None

    def advance_clock(self, *, days: int = 0, seconds: int = 0) -> dict[str, Any]:
        """Move the emulator's clock (Stripe's time only; the project keeps the real time)."""
        body = urllib.parse.urlencode({"days": days, "seconds": seconds}).encode()
        answer: dict[str, Any] = self._call(
            "POST", "/_emulator/clock/advance", body, "application/x-www-form-urlencoded"
        )
        return answer

    def add_fault(self, action: str, *, types: list[str], count: int) -> None:
        body = json.dumps({"action": action, "types": types, "count": count}).encode()
        self._call("POST", "/_emulator/faults", body, "application/json")

    def flush_webhooks(self) -> None:
        """Wait until the emulator has sent every queued webhook and had its answer."""
        self._call("POST", "/_emulator/deliveries/flush", b"timeout=30", "text/plain")

    def deliveries(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._call("GET", "/_emulator/deliveries", None, "")["data"]
        return data

    def stripe_now(self) -> int:
        """The emulator's clock (Unix seconds)."""
        return int(self._call("GET", "/_emulator/clock", None, "")["now"])

    def manage_at(self, when: int, *args: str) -> str:
        """``manage()`` with the project's clock set to ``when`` (time-machine, ticking).

        In production the project's clock and Stripe's agree; after the test
        moved only the emulator's, this puts the command back in step with it.
        """
        script = (
            "import runpy, sys, time_machine\n"
            "time_machine.travel(float(sys.argv[1]), tick=True).start()\n"
            "sys.argv = ['manage.py', *sys.argv[2:]]\n"
            "runpy.run_path('manage.py', run_name='__main__')\n"
        )
        return self.manage(str(when), *args, command=[sys.executable, "-c", script])

    def manage(self, *args: str, command: list[str] | None = None) -> str:
        """``manage.py`` of the example project on the demo's database and emulator."""
        result = subprocess.run(  # noqa: S603 - our own manage.py
            [*(command or [sys.executable, "manage.py"]), *args],
            cwd=PROJECT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (
            f"manage.py {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
        return result.stdout


@pytest.fixture
def demo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Demo]:
    """The demo on free ports with a fresh database and emulator state, stopped afterwards."""
    from scripts.ports import free_ports  # scripts/ is not in an sdist

    with run_demo(tmp_path, *free_ports(2)) as running:
        # What the servers see, for manage.py commands run beside them.
        running.env.update({"SITE_URL": running.site, "STRIPE_API_BASE": running.emulator})
        yield Demo(site=running.site, emulator=running.emulator, env=running.env)
    if failed(request.node):
        print(f"--- the demo's output ---\n{running.output.text()}")
    assert running.survivors == [], f"still running after the demo stopped: {running.survivors}"
    returncode = running.process.returncode
    assert returncode == 0, f"the demo exited {returncode}:\n{running.output.text()}"


# ---------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def screenshot_path(node: pytest.Item) -> Path:
    return SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', node.name).strip('_')}.png"


@pytest.fixture
def page(browser: Browser, demo: Demo, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context on the demo, logged in as demo/demo through the login page."""
    context = browser.new_context(
        base_url=demo.site,
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        # The page formats dates in the browser's zone; the API's are UTC.
        timezone_id="UTC",
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    try:
        log_in(tab)
        yield tab
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            tab.screenshot(
                path=str(screenshot_path(request.node)), full_page=True, animations="disabled"
            )
        finally:
            context.close()


def log_in(page: Page, username: str = "demo", password: str = "demo") -> None:  # noqa: S107
    from playwright.sync_api import expect

    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_test_id("login-button").click()
    page.wait_for_url("/")
    expect(page.get_by_test_id("username")).to_have_text(username)


# ---------------------------------------------------------------------- what a customer does


class Billing:
    """The customer's moves on the billing page and the emulator's hosted pages."""

    def __init__(self, page: Page, demo: Demo) -> None:
        self.page = page
        self.demo = demo

    def open(self) -> None:
        """The billing page, once its script has loaded the account."""
        self.page.goto("/")
        self.page.locator('[data-testid="token-balance"][data-value]').wait_for()

    def reload(self) -> None:
        """Reload the billing page, as a person does to see what happened meanwhile."""
        self.page.reload()
        self.page.locator('[data-testid="token-balance"][data-value]').wait_for()

    def balance(self) -> int:
        return int(self.page.get_by_test_id("token-balance").get_attribute("data-value") or "")

    def api(self, path: str) -> Any:
        """GET an endpoint of the JSON API with the page's session."""
        response = self.page.request.get(f"{self.demo.site}{path}")
        assert response.ok, f"GET {path}: {response.status} {response.text()}"
        return response.json()

    def subscribe(self, plan: str) -> None:
        self.page.get_by_test_id(f"plan-subscribe-{plan}").click()
        self._wait_for_checkout()

    def buy(self, package: str, quantity: int = 1) -> None:
        self.page.get_by_test_id(f"package-quantity-{package}").fill(str(quantity))
        self.page.get_by_test_id(f"package-buy-{package}").click()
        self._wait_for_checkout()

    def _wait_for_checkout(self) -> None:
        self.page.wait_for_url(f"{self.demo.emulator}/checkout/**")
        self.page.locator("#pay").wait_for()

    def apply_promotion_code(self, code: str) -> None:
        self.page.fill("#promotion_code", code)
        self.page.click("#apply")
        self.page.locator("#notice").wait_for()

    def pay(self, card: str, *, promotion_code: str | None = None) -> None:
        """Fill in the hosted Checkout form and press Pay (or Subscribe)."""
        if promotion_code is not None:
            self.page.fill("#promotion_code", promotion_code)
        self.page.fill("#card_number", card)
        self.page.fill("#card_expiry", CARD_EXPIRY)
        self.page.fill("#card_cvc", CARD_CVC)
        self._submit("#pay")

    def three_d_secure(self, outcome: str) -> None:
        """Answer the emulator's 3D Secure challenge: ``complete`` or ``fail``."""
        self._submit(f"#{outcome}")

    def _submit(self, button: str) -> None:
        """Press a hosted page's submit button; back once the emulator has answered the form.

        The click alone may return before the form's POST has reached the emulator,
        and a ``flush_webhooks()`` right after would then find nothing to wait for.
        """
        with self.page.expect_response(
            lambda response: (
                response.request.method == "POST" and response.url.startswith(self.demo.emulator)
            )
        ):
            self.page.click(button)
        self.page.wait_for_load_state()

    def session_id(self) -> str:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.page.url).query)["session_id"][0]

    def wait_until_fulfilled(self) -> str:
        """On the success page: wait for "Payment confirmed."; the Checkout Session's id."""
        from playwright.sync_api import expect

        self.page.wait_for_url(f"{self.demo.site}/billing/success/?session_id=*")
        status = self.page.get_by_test_id("success-status")
        expect(status).to_have_attribute("data-state", "fulfilled")
        expect(status).to_have_text("Payment confirmed.")
        return self.session_id()

    def leave_checkout(self) -> None:
        """Follow the hosted Checkout page's "Cancel and go back" link; the page says so."""
        from playwright.sync_api import expect

        self.page.click("#cancel")
        # The page drops ?checkout=canceled from the address once it has shown the notice.
        self.page.wait_for_url(
            re.compile(rf"{re.escape(self.demo.site)}/billing/(\?checkout=canceled)?$")
        )
        self.page.locator('[data-testid="token-balance"][data-value]').wait_for()
        expect(self.page.get_by_test_id("notice")).to_have_text(CHECKOUT_CANCELED)

    def back_to_billing(self) -> None:
        self.page.get_by_test_id("back-link").click()
        self.page.wait_for_url(f"{self.demo.site}/")
        self.page.locator('[data-testid="token-balance"][data-value]').wait_for()

    def click_and_wait(self, test_id: str) -> None:
        """Press a button of the billing page and wait until its request has finished."""
        self.page.get_by_test_id(test_id).click()
        self.page.locator("body:not(.busy)").wait_for()

    def open_portal(self) -> None:
        """Manage billing: the emulator's Customer Portal."""
        self.page.get_by_test_id("portal-button").click()
        self.page.wait_for_url(f"{self.demo.emulator}/portal/**")

    def leave_portal(self) -> None:
        """Wait for the portal's webhooks to be answered, then follow Return."""
        self.demo.flush_webhooks()
        self.page.click("#return")
        self.page.wait_for_url(f"{self.demo.site}/billing/")
        self.page.locator('[data-testid="token-balance"][data-value]').wait_for()

    def subscribe_and_pay(self, plan: str, card: str = CARD_SUCCEEDS) -> str:
        """Subscribe on the page, pay, wait for the success page, come back; the session id."""
        self.open()
        self.subscribe(plan)
        self.pay(card)
        session_id = self.wait_until_fulfilled()
        self.back_to_billing()
        return session_id


@pytest.fixture
def billing(page: Page, demo: Demo) -> Billing:
    return Billing(page, demo)
