"""Settings of the test suite.

``DATABASE_URL`` picks the database (SQLite in memory by default; the
PostgreSQL leg sets ``postgres://postgres@127.0.0.1:5432/test``).
``FIKO_TEST_SUBSCRIBER=organisation`` runs the suite with an organisation,
not the user, as the subscriber.
"""

from __future__ import annotations

import importlib.util
import os

import dj_database_url

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "sqlite://:memory:"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("FIKO_TEST_SQLITE_FILE") or None}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "tests.testapp",
    "fiko_billing",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"
STATIC_URL = "/static/"

# Webhook processing as tasks runs on the database queue of django-tasks-db,
# executed by its real worker (``db_worker``) in the async tests.
if importlib.util.find_spec("django_tasks_db"):
    INSTALLED_APPS.append("django_tasks_db")
    if not importlib.util.find_spec("django.tasks"):
        INSTALLED_APPS.append("django_tasks")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

FIKO_BILLING = {
    "ENABLED": True,
    "TEST_MODE": True,
    "STRIPE_SECRET_KEY": "sk_test_fiko",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_fiko",
    "STRIPE_WEBHOOK_SECRET": "whsec_test_fiko",
}

if os.environ.get("FIKO_TEST_SUBSCRIBER") == "organisation":
    FIKO_BILLING_SUBSCRIBER_MODEL = "testapp.Organisation"
    # A session user acts for the organisation it is a member of.
    FIKO_BILLING["SUBSCRIBER_RESOLVER"] = "tests.resolvers.session_subscriber"
