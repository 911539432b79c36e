"""Settings of the fiko-billing example project.

Everything a deployment would change comes from the environment (or from
``example_project/.env``, see ``.env.example``): ``DATABASE_URL``,
``DJANGO_SECRET_KEY``, ``DEBUG``, ``ALLOWED_HOSTS``, ``SITE_URL``,
``STRIPE_API_BASE`` and the ``STRIPE_*`` variables that fiko-billing reads
itself. Without Stripe keys the project talks to the bundled Stripe emulator
(``python -m fiko_billing.emulator``), which ``make demo`` starts.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from demo import hints
from example_project.envfile import load_env_file

BASE_DIR = Path(__file__).resolve().parent.parent

load_env_file(BASE_DIR / ".env")


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY",
    "django-insecure-example-project-only-never-use-in-production",
)
DEBUG = env_bool("DEBUG", default=True)
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "fiko_billing",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo.context_processors.hints",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The token ledger's first write takes SQLite's write lock; IMMEDIATE
    # transactions take it at BEGIN, and the timeout makes a second writer wait.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
STATIC_URL = "static/"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
# The demo's JSON view answers a failed CSRF check in the API's error shape.
CSRF_FAILURE_VIEW = "demo.views.csrf_failure"

#: Where the browser reaches this site; Checkout and the Portal send it back here.
#: It must be the host the visitor logged in on, or the session cookie is lost.
SITE_URL = os.environ.get(
    "SITE_URL", f"http://127.0.0.1:{os.environ.get('DEMO_PORT', hints.DEFAULT_DEMO_PORT)}"
).rstrip("/")
EMULATOR_URL = f"http://127.0.0.1:{os.environ.get('EMULATOR_PORT', hints.DEFAULT_EMULATOR_PORT)}"

# fiko-billing reads the variables of the original integration when a key is
# missing from FIKO_BILLING. Unset, they take the emulator's test values, so the
# demo runs without a Stripe account; set real test keys in .env to use Stripe.
for _name, _default in {
    "STRIPE_PUBLISHABLE_KEY": hints.EMULATOR_PUBLISHABLE_KEY,
    "STRIPE_SECRET_KEY": hints.EMULATOR_SECRET_KEY,
    "STRIPE_WEBHOOK_SECRET": hints.EMULATOR_WEBHOOK_SECRET,
    "STRIPE_ENABLED": "true",
    "STRIPE_TEST_MODE": "true",
    "STRIPE_CURRENCY": "usd",
}.items():
    os.environ.setdefault(_name, _default)

#: ``Authorization: Bearer <token>`` acts as the demo user (see demo/resolvers.py).
DEMO_API_TOKEN = os.environ.get("DEMO_API_TOKEN", hints.DEMO_API_TOKEN)

FIKO_BILLING: dict[str, object] = {
    "SUBSCRIBER_RESOLVER": "demo.resolvers.session_or_api_token",
    "SUCCESS_URL": f"{SITE_URL}/billing/success/?session_id={{CHECKOUT_SESSION_ID}}",
    # The billing page shows a notice when it is reached with ?checkout=canceled.
    "CANCEL_URL": f"{SITE_URL}/billing/?checkout=canceled",
    "PORTAL_RETURN_URL": f"{SITE_URL}/billing/",
}
# The emulator's key only works with the emulator, and a real key only with
# Stripe: the API base follows the key unless STRIPE_API_BASE says otherwise.
if os.environ.get("STRIPE_API_BASE"):
    FIKO_BILLING["STRIPE_API_BASE"] = os.environ["STRIPE_API_BASE"]
elif os.environ["STRIPE_SECRET_KEY"] == hints.EMULATOR_SECRET_KEY:
    FIKO_BILLING["STRIPE_API_BASE"] = EMULATOR_URL

#: The billing page's developer panel (Stripe's clock, webhook deliveries, reset)
#: calls the emulator's test controls: only while the API base is a local emulator.
DEMO_DEVELOPER_PANEL = str(FIKO_BILLING.get("STRIPE_API_BASE", "")).startswith(
    ("http://127.0.0.1:", "http://localhost:")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "fiko_billing": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
