"""Settings of the fiko-billing example project.

Everything a deployment would change comes from the environment (or from
``example_project/.env``, see ``.env.example``): ``DATABASE_URL``,
``DJANGO_SECRET_KEY``, ``DEBUG``, ``ALLOWED_HOSTS`` and the ``STRIPE_*``
variables that fiko-billing reads itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

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

LOGIN_URL = "/admin/login/"

# fiko-billing reads the variables of the original integration when a key is
# missing from FIKO_BILLING. The placeholders below are test-mode dummies so the
# demo starts without a Stripe account; set real test keys in .env to talk to
# Stripe.
for _name, _placeholder in {
    "STRIPE_PUBLISHABLE_KEY": "pk_test_example",
    "STRIPE_SECRET_KEY": "sk_test_example",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
    "STRIPE_ENABLED": "true",
    "STRIPE_TEST_MODE": "true",
    "STRIPE_CURRENCY": "usd",
}.items():
    os.environ.setdefault(_name, _placeholder)

FIKO_BILLING: dict[str, object] = {}

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
