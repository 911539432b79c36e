"""Follow the installation guide in a new ``django-admin startproject``, and buy once.

In a temporary directory, with the interpreter running this script (which
has fiko-billing installed: the guide's ``pip install`` step), it

1. creates a project with ``django-admin startproject``;
2. adds ``fiko_billing`` to ``INSTALLED_APPS`` (installation step 2), mounts
   the URLs with the line of step 3 and appends step 4's ``FIKO_BILLING``
   block as it is written, the keys coming from the environment, pointed at
   the emulator as the testing guide says;
3. runs ``migrate`` and ``check`` (steps 6 and 7), creates the catalogue with
   step 8's code in ``manage.py shell`` and pushes it with
   ``sync_stripe_products``;
4. starts ``manage.py stripe_emulator`` and ``manage.py runserver``, signs a
   user in through the admin's login page, starts a Checkout through the JSON
   API, pays on the emulator's page and waits for the webhooks to credit the
   tokens.

Every step prints one line; the first step that fails stops the script with
its output and exit code 1. Run it from the repository: ``python
scripts/startproject_check.py`` (``--keep`` keeps the directory).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ports import free_ports  # scripts/ports.py: this script's directory is on sys.path

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "installation.md"
PYTHON = sys.executable
# The installation guide's FIKO_BILLING reads these; the emulator's test values.
KEYS = {
    "STRIPE_SECRET_KEY": "sk_test_emulator",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_emulator",
    "STRIPE_WEBHOOK_SECRET": "whsec_emulator_demo",
}
PASSWORD = "startproject-check"  # noqa: S105 - a throwaway local user


class StepFailed(Exception):
    pass


def say(line: str) -> None:
    print(line, flush=True)


def guide_sections() -> dict[str, list[str]]:
    """The python blocks of the installation guide by section number ("3", "4", ...)."""
    blocks: dict[str, list[str]] = {}
    section = ""
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        heading = re.match(r"^## (\d+)\.", line)
        if heading:
            section = heading[1]
        if line.startswith("```python"):
            end = lines.index("```", index + 1)
            blocks.setdefault(section, []).append("\n".join(lines[index + 1 : end]) + "\n")
            index = end
        index += 1
    return blocks


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIKO_"))}
    env.pop("DATABASE_URL", None)
    env.update(KEYS, PYTHONUNBUFFERED="1", DJANGO_SUPERUSER_PASSWORD=PASSWORD)
    return env


Summary = str | Callable[[str], str]


def run(shown: str, argv: list[str], cwd: Path, *, summary: Summary = "") -> str:
    """Run one command; print ``$ shown`` and its last line (or ``summary``)."""
    result = subprocess.run(
        argv, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=120
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise StepFailed(f"$ {shown}\n" + "\n".join(output.splitlines()[-15:]))
    if callable(summary):
        summary = summary(output)
    last = output.splitlines()[-1] if output else "ok"
    say(f"$ {shown}\n    {summary or last}")
    return output


def create_project(root: Path, emulator_port: int) -> None:
    blocks = guide_sections()
    run(
        "django-admin startproject mysite .",
        [PYTHON, "-m", "django", "startproject", "mysite", "."],
        root,
    )
    settings = root / "mysite" / "settings.py"
    text = settings.read_text()
    if '"fiko_billing"' not in blocks["2"][0]:
        raise StepFailed("installation step 2 no longer adds fiko_billing to INSTALLED_APPS")
    text, added = re.subn(
        r"(INSTALLED_APPS = \[\n(?:    .*\n)*?)\]", r'\1    "fiko_billing",\n]', text, count=1
    )
    if not added:
        raise StepFailed("no INSTALLED_APPS list in the new project's settings.py")
    (step4,) = blocks["4"]
    text += f"\n# Installation step 4, as written.\n{step4}"
    text += f'\n# The testing guide: the emulator.\nFIKO_BILLING["STRIPE_API_BASE"] = "http://127.0.0.1:{emulator_port}"\n'
    settings.write_text(text)
    say(
        'settings.py: "fiko_billing" in INSTALLED_APPS; FIKO_BILLING as in step 4, at the emulator'
    )
    mount = next(
        line.strip() for line in blocks["3"][0].splitlines() if "fiko_billing.urls" in line
    )
    urls = root / "mysite" / "urls.py"
    source = urls.read_text().replace(
        "from django.urls import path", "from django.urls import include, path"
    )
    urls.write_text(source.replace("urlpatterns = [\n", f"urlpatterns = [\n    {mount}\n"))
    say(f"urls.py: {mount}")


def manage(root: Path, *args: str, summary: Summary = "", shown: str = "") -> str:
    shown = shown or " ".join(args)
    return run(f"python manage.py {shown}", [PYTHON, "manage.py", *args], root, summary=summary)


@contextmanager
def server(root: Path, shown: str, args: list[str], port: int) -> Iterator[None]:
    """A long-running manage.py command, up once its port answers."""
    # Something already answering there would pass for this server.
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise StepFailed(f"$ {shown}\nport {port} is already in use")
    process = subprocess.Popen(
        [PYTHON, "manage.py", *args],
        cwd=root,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise StepFailed(f"$ {shown}\n{process.communicate()[0]}") from None
                time.sleep(0.1)
        say(f"$ {shown}\n    listening on 127.0.0.1:{port}")
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


class Browser:
    """Cookies and the CSRF header, as the front end of the guide's API sends them."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), urllib.request.ProxyHandler({})
        )

    def cookie(self, name: str) -> str:
        return next(c.value or "" for c in self.jar if c.name == name)

    def request(self, path: str, data: bytes | None = None, **headers: str) -> tuple[int, str]:
        request = urllib.request.Request(self.site + path, data=data, headers=headers)  # noqa: S310
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def log_in(self, username: str) -> None:
        status, page = self.request("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            raise StepFailed(f"GET /admin/login/ answered {status}")
        form = {"csrfmiddlewaretoken": token[1], "username": username, "password": PASSWORD}
        self.request("/admin/login/?next=/admin/", urllib.parse.urlencode(form).encode())
        if not any(c.name == "sessionid" for c in self.jar):
            raise StepFailed("the admin's login page did not sign the user in")
        say(f"POST /admin/login/ as {username}\n    signed in (session cookie)")

    def post_json(self, path: str, body: dict[str, object]) -> dict[str, object]:
        status, text = self.request(
            path,
            json.dumps(body).encode(),
            **{"Content-Type": "application/json", "X-CSRFToken": self.cookie("csrftoken")},
        )
        if status != 200:
            raise StepFailed(f"POST {path} answered {status}: {text}")
        answer: dict[str, object] = json.loads(text)
        return answer


def checkout(root: Path, site: str) -> None:
    from fiko_billing.testing.hosted import CARD_SUCCEEDS, pay_checkout

    manage(root, "createsuperuser", "--noinput", "--username", "ann", "--email", "ann@example.com")
    browser = Browser(site)
    browser.log_in("ann")
    status, plans = browser.request("/billing/plans/")
    if status != 200:
        raise StepFailed(f"GET /billing/plans/ answered {status}: {plans}")
    package = json.loads(plans)["token_packages"][0]
    say(f"GET /billing/plans/\n    200, token package {package['name']!r} (id {package['id']})")
    session = browser.post_json(
        "/billing/stripe/checkout-session/", {"plan_type": "token", "plan_id": package["id"]}
    )
    say(f"POST /billing/stripe/checkout-session/\n    200, {session['id']}")
    page = pay_checkout(str(session["url"]), CARD_SUCCEEDS)
    if not page.paid:
        raise StepFailed(f"the emulator's Checkout page answered {page.status}:\n{page.body}")
    say(
        f"pay on the emulator's Checkout page with {CARD_SUCCEEDS}\n"
        f"    paid, {page.status} to the success URL"
    )
    wait_for_tokens(browser, int(package["tokens"]))


def wait_for_tokens(browser: Browser, expected: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        status, text = browser.request("/billing/account/")
        balance = json.loads(text).get("token_balance") if status == 200 else None
        if balance == expected:
            say(f"GET /billing/account/\n    token_balance {balance}: the webhooks arrived")
            return
        if time.monotonic() > deadline:
            raise StepFailed(f"GET /billing/account/ answered {status}: {text}")
        time.sleep(0.2)


def check(root: Path) -> None:
    site_port, emulator_port = free_ports(2)
    site = f"http://127.0.0.1:{site_port}"
    create_project(root, emulator_port)
    manage(root, "migrate", summary=lambda out: f"{out.count('Applying ')} migrations applied")
    manage(root, "check")
    (catalogue,) = guide_sections()["8"]
    manage(
        root,
        "shell",
        "-c",
        catalogue,
        shown='shell -c "<step 8\'s code>"',
        summary="a plan and a token package with their prices",
    )
    with server(
        root,
        f"python manage.py stripe_emulator --site {site}",
        ["stripe_emulator", "--site", site],
        emulator_port,
    ):
        manage(root, "sync_stripe_products")
        runserver = ["runserver", f"127.0.0.1:{site_port}", "--noreload"]
        with server(root, "python manage.py " + " ".join(runserver), runserver, site_port):
            checkout(root, site)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the project directory")
    options = parser.parse_args()
    import django

    from fiko_billing import __version__

    root = Path(tempfile.mkdtemp(prefix="fiko-startproject-"))
    started = time.monotonic()
    say(
        f"fiko-billing {__version__}, Django {django.get_version()}, "
        f"Python {sys.version.split()[0]}"
    )
    say(f"in {root}")
    try:
        check(root)
    except StepFailed as failure:
        say(f"FAILED\n{failure}")
        return 1
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)
    say(f"every step passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
