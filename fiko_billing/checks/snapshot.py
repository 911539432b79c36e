"""What the checks share: the settings read once through the settings object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from fiko_billing.conf import SETTING_NAME, BillingSettings, Origin
from fiko_billing.settings_table import BY_NAME, REMOVED_SETTINGS

TAG = "fiko_billing"

LIVE_SECRET_PREFIXES = ("sk_live_", "rk_live_")
TEST_SECRET_PREFIXES = ("sk_test_", "rk_test_")
SECRET_KEY_PREFIXES = ("sk_", "rk_")
PUBLISHABLE_PREFIX = "pk_"
LIVE_PUBLISHABLE_PREFIX = "pk_live_"
TEST_PUBLISHABLE_PREFIX = "pk_test_"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret

# The only part of a credential a message may show.
KNOWN_PREFIXES = (
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "pk_live_",
    "pk_test_",
    "sk_",
    "rk_",
    "pk_",
)

RETURN_PAGES = {
    "SUCCESS_URL": (
        "the page Stripe Checkout returns to after a payment "
        "(keep {CHECKOUT_SESSION_ID} in its query string)"
    ),
    "CANCEL_URL": "the page Stripe Checkout returns to when the customer cancels",
    "PORTAL_RETURN_URL": "the page the Stripe Customer Portal returns to",
}

INVALID = object()


class Snapshot:
    """The settings as the checks see them: every value read once, or marked invalid.

    Values are read through the settings object, so a value the checks accept
    is the value the code gets, and an invalid one is reported (E010) with the
    message the code would raise.
    """

    def __init__(self, settings: BillingSettings) -> None:
        self.settings = settings
        self.values: dict[str, Any] = {}
        self.errors: list[CheckMessage] = []
        for key in BY_NAME:
            try:
                self.values[key] = settings.get(key)
            except ImproperlyConfigured as exc:
                self.values[key] = INVALID
                self.errors.append(
                    Error(
                        str(exc),
                        hint=(
                            f"Change {settings.where(key)} to a value of the type and range "
                            f"given for {SETTING_NAME}[{key!r}] in the settings reference."
                        ),
                        id="fiko_billing.E010",
                    )
                )

    @classmethod
    def read(cls) -> tuple[Snapshot | None, list[CheckMessage]]:
        """The snapshot and its E010 errors, or ``None`` when ``FIKO_BILLING`` is unusable."""
        try:
            settings = BillingSettings()
        except ImproperlyConfigured as exc:
            return None, [Error(str(exc), hint=_unusable_hint(), id="fiko_billing.E010")]
        snapshot = cls(settings)
        return snapshot, snapshot.errors

    def get(self, key: str) -> Any:
        return self.values.get(key, INVALID)

    def where(self, key: str) -> str:
        return self.settings.where(key)

    def where_to_set(self, key: str) -> str:
        return self.settings.where_to_set(key)

    def is_default(self, key: str) -> bool:
        return self.settings.origin(key) is Origin.DEFAULT

    def default_note(self, key: str) -> str:
        return " (the default)" if self.is_default(key) else ""

    def neither(self, key: str) -> str:
        env = f" nor the environment variable {BY_NAME[key].env}" if BY_NAME[key].env else ""
        return f"neither {SETTING_NAME}[{key!r}]{env} is set"

    def unset_or_empty(self, key: str) -> str:
        """``key`` is empty, said of the place it comes from (or of none, when unset)."""
        return self.neither(key) if self.is_default(key) else f"{self.where(key)} is empty"


def _unusable_hint() -> str:
    configured = getattr(django_settings, SETTING_NAME, None) or {}
    if not isinstance(configured, Mapping):
        return f"Set {SETTING_NAME} to a dict, for example {{'CURRENCY': 'usd'}}."
    if set(configured) & set(REMOVED_SETTINGS):
        return f"Remove the key from {SETTING_NAME} and do what its message says instead."
    return (
        f"Remove the unknown key from {SETTING_NAME} or correct its spelling to "
        "one of the known keys listed above."
    )


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def key_prefix(value: str) -> str | None:
    for prefix in KNOWN_PREFIXES:
        if value.startswith(prefix):
            return prefix
    return None


def is_https(url: str) -> bool:
    try:
        return urlsplit(url).scheme.lower() == "https"
    except ValueError:
        return False


def startswith(value: object, prefixes: str | tuple[str, ...]) -> str | None:
    """The prefix of ``value`` among ``prefixes``, if any."""
    if not isinstance(value, str):
        return None
    for prefix in (prefixes,) if isinstance(prefixes, str) else prefixes:
        if value.startswith(prefix):
            return prefix
    return None
