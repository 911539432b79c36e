"""A throwaway host project: its own settings and URLconf, its own pytest run.

What a project that installed ``fiko-billing[testing]`` has, and nothing of
this repository's test setup: no ``conftest.py`` unless a test writes one,
fiko_billing's fixtures only through the ``pytest11`` entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SETTINGS = """\
SECRET_KEY = "host-project-tests"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "fiko_billing",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "hostsite_urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
"""

URLS = """\
from django.urls import include, path

urlpatterns = [path("billing/", include("fiko_billing.urls"))]
"""

PYTEST_INI = """\
[pytest]
DJANGO_SETTINGS_MODULE = hostsite_settings
pythonpath = .
filterwarnings = error
"""

# Plugins of this suite's environment that a host project would not have;
# loading them (schemathesis above all) costs seconds per run.
_NOT_THE_HOSTS = (
    "schemathesis",
    "hypothesispytest",
    "anyio",
    "faker",
    "xdist.looponfail",
    "xdist",
    "time_machine",
    "platformdirs",
)

# Variables of this suite's own run that must not leak into the host's.
_OURS = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTEST_ADDOPTS", "PYTHONPATH")


def write_host_project(root: Path, files: dict[str, str], *, django: bool = True) -> Path:
    """Write a host project with ``files`` (test modules, a conftest) into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    if django:
        (root / "hostsite_settings.py").write_text(SETTINGS)
        (root / "hostsite_urls.py").write_text(URLS)
        (root / "pytest.ini").write_text(PYTEST_INI)
    else:
        (root / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def run_pytest(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run pytest in ``root`` as the host would: ``python -m pytest``, nothing of ours set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _OURS and not key.startswith("PYTEST_XDIST")
    }
    return subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *(f"-pno:{name}" for name in _NOT_THE_HOSTS),
            *args,
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
