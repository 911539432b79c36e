"""System checks: ``manage.py check`` reports a broken billing configuration.

Every id below keeps its meaning for good. An id that is no longer raised
stays listed here, marked reserved, and is never given to another check.

fiko_billing.E001  ENABLED, but STRIPE_SECRET_KEY is empty.
fiko_billing.E002  ENABLED, but STRIPE_WEBHOOK_SECRET is empty.
fiko_billing.E003  A live-mode key (sk_live_, rk_live_, pk_live_) while TEST_MODE is on.
fiko_billing.E004  A test-mode key (sk_test_, rk_test_, pk_test_) while TEST_MODE is off.
fiko_billing.E005  A publishable key (pk_) in STRIPE_SECRET_KEY.
fiko_billing.E006  A secret or restricted key (sk_, rk_) in STRIPE_PUBLISHABLE_KEY.
fiko_billing.E007  CURRENCY is not an ISO 4217 code that Stripe supports.
fiko_billing.E008  SUCCESS_URL, CANCEL_URL or PORTAL_RETURN_URL is not https while
                   TEST_MODE is off (one error per URL).
fiko_billing.E009  A webhook secret that does not start with whsec_.
fiko_billing.E010  A setting that cannot be read: wrong type, value out of range,
                   unimportable path, unknown key, FIKO_BILLING not a dict.
fiko_billing.E011  FIKO_BILLING_SUBSCRIBER_MODEL is malformed or names a model that
                   is not installed.
fiko_billing.E012  FIKO_BILLING_SUBSCRIBER_MODEL is not the user model, but
                   SUBSCRIBER_RESOLVER is the default (which returns the user).
fiko_billing.W001  STRIPE_API_VERSION differs from the API version the installed
                   stripe SDK pins.

With ENABLED off no request reaches Stripe, so E001 to E004 are not raised.
The others still are: a value that is wrong now is wrong on the day billing
is switched on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig, apps
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.checks import CheckMessage, Error, Tags
from django.core.exceptions import ImproperlyConfigured

from fiko_billing.conf import (
    DEFAULTS,
    ENV_FALLBACKS,
    PINNED_API_VERSION,
    SETTING_NAME,
    SUBSCRIBER_MODEL_SETTING,
    BillingSettings,
    subscriber_model_label,
)
from fiko_billing.money import ISO_4217
from fiko_billing.subscribers import get_subscriber_model, resolve_request_user

TAG = "fiko_billing"

LIVE_SECRET_PREFIXES = ("sk_live_", "rk_live_")
TEST_SECRET_PREFIXES = ("sk_test_", "rk_test_")
SECRET_KEY_PREFIXES = ("sk_", "rk_")
PUBLISHABLE_PREFIX = "pk_"
LIVE_PUBLISHABLE_PREFIX = "pk_live_"
TEST_PUBLISHABLE_PREFIX = "pk_test_"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret

# The only part of a credential a message may show.
_KNOWN_PREFIXES = (
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

# Settings whose values are credentials: their own error messages may quote
# the value, so they are replaced by one that names the type only.
_CREDENTIALS = {
    "STRIPE_SECRET_KEY": "a string",
    "STRIPE_WEBHOOK_SECRET": "a string or a list of strings",
}

_RETURN_PAGES = {
    "SUCCESS_URL": (
        "the page Stripe Checkout returns to after a payment "
        "(keep {CHECKOUT_SESSION_ID} in its query string)"
    ),
    "CANCEL_URL": "the page Stripe Checkout returns to when the customer cancels",
    "PORTAL_RETURN_URL": "the page the Stripe Customer Portal returns to",
}

_INVALID = object()


class _Snapshot:
    """The settings as the checks see them: every value read once, or marked invalid."""

    def __init__(self, settings: BillingSettings) -> None:
        self.settings = settings
        self.values: dict[str, Any] = {}
        self.errors: list[CheckMessage] = []
        for key in DEFAULTS:
            if not isinstance(getattr(BillingSettings, key, None), property):
                continue
            try:
                self.values[key] = getattr(settings, key)
            except ImproperlyConfigured as exc:
                self.values[key] = _INVALID
                self.errors.append(self._invalid(key, exc))

    @classmethod
    def read(cls) -> tuple[_Snapshot | None, list[CheckMessage]]:
        """The snapshot and its E010 errors, or ``None`` when ``FIKO_BILLING`` is unusable."""
        try:
            settings = BillingSettings()
        except ImproperlyConfigured as exc:
            if isinstance(getattr(django_settings, SETTING_NAME, None) or {}, Mapping):
                hint = (
                    f"Remove the unknown key from {SETTING_NAME} or correct its spelling to "
                    "one of the known keys listed above."
                )
            else:
                hint = f"Set {SETTING_NAME} to a dict, for example {{'CURRENCY': 'usd'}}."
            return None, [Error(str(exc), hint=hint, id="fiko_billing.E010")]
        snapshot = cls(settings)
        return snapshot, snapshot.errors

    def _invalid(self, key: str, exc: ImproperlyConfigured) -> Error:
        where = self.where(key)
        message = str(exc)
        if key in _CREDENTIALS:
            raw = self.settings.raw(key)
            message = (
                f"{_capital(where)} must be {_CREDENTIALS[key]}, "
                f"not a value of type {type(raw).__name__}."
            )
            if isinstance(raw, list | tuple):
                kinds = sorted({type(item).__name__ for item in raw})
                message = (
                    f"{_capital(where)} must be {_CREDENTIALS[key]}, "
                    f"but its items are of type {', '.join(kinds)}."
                )
        return Error(
            message,
            hint=(
                f"Change {where} to a value of the type and range given for "
                f"{SETTING_NAME}[{key!r}] in the settings reference."
            ),
            id="fiko_billing.E010",
        )

    def get(self, key: str) -> Any:
        return self.values.get(key, _INVALID)

    def where(self, key: str) -> str:
        """The place to change ``key``: the dict entry, or the variable it came from."""
        source = self.settings.source(key)
        if source.startswith("the default of "):
            return f"{SETTING_NAME}[{key!r}]"
        return source

    def is_default(self, key: str) -> bool:
        return self.settings.source(key).startswith("the default of ")

    def where_to_set(self, key: str) -> str:
        """Both spellings of ``key`` when it is unset and has an environment fallback."""
        env_name = ENV_FALLBACKS.get(key)
        if self.is_default(key) and env_name is not None:
            return f"{SETTING_NAME}[{key!r}] or the environment variable {env_name}"
        return self.where(key)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _prefix(value: str) -> str | None:
    for prefix in _KNOWN_PREFIXES:
        if value.startswith(prefix):
            return prefix
    return None


def _is_https(url: str) -> bool:
    try:
        return urlsplit(url).scheme.lower() == "https"
    except ValueError:
        return False


def _startswith(value: Any, prefixes: str | tuple[str, ...]) -> str | None:
    """The prefix of ``value`` among ``prefixes``, if any."""
    if not isinstance(value, str):
        return None
    for prefix in (prefixes,) if isinstance(prefixes, str) else prefixes:
        if value.startswith(prefix):
            return prefix
    return None


# ------------------------------------------------------------------ settings


@checks.register(TAG)
def check_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Readable settings (E010), the currency (E007), the subscriber model (E011, E012), W001."""
    snapshot, errors = _Snapshot.read()
    messages = list(errors)
    if snapshot is not None:
        messages += _check_currency(snapshot)
        messages += _check_api_version(snapshot)
    subscriber_model_errors = _check_subscriber_model()
    messages += subscriber_model_errors
    if snapshot is not None and not subscriber_model_errors:
        messages += _check_subscriber_resolver(snapshot)
    return messages


def _check_currency(snapshot: _Snapshot) -> list[CheckMessage]:
    currency = snapshot.get("CURRENCY")
    if currency is _INVALID or currency in ISO_4217:
        return []
    where = snapshot.where("CURRENCY")
    return [
        Error(
            f"{_capital(where)} is {currency!r}, which is not an ISO 4217 currency code "
            "that Stripe supports.",
            hint=f"Set {where} to a three-letter currency code such as 'usd', 'eur' or 'jpy'.",
            id="fiko_billing.E007",
        )
    ]


def _check_api_version(snapshot: _Snapshot) -> list[CheckMessage]:
    # The SDK is imported here only to read its version numbers.
    import stripe
    from stripe._api_version import _ApiVersion

    configured = snapshot.get("STRIPE_API_VERSION")
    sdk_pin = _ApiVersion.CURRENT
    if configured is _INVALID or configured == sdk_pin:
        return []
    where = snapshot.where("STRIPE_API_VERSION")
    default = " (the default)" if snapshot.is_default("STRIPE_API_VERSION") else ""
    if sdk_pin == PINNED_API_VERSION:
        hint = f"Set {where} to {sdk_pin!r}, or remove it from {SETTING_NAME} to use that default."
    else:
        hint = (
            f"Install a stripe SDK release that pins {PINNED_API_VERSION!r}, the API version "
            f"fiko-billing is built and tested against, and leave {SETTING_NAME}"
            "['STRIPE_API_VERSION'] at its default."
        )
    return [
        checks.Warning(
            f"{_capital(where)} is {configured!r}{default}, but the installed stripe SDK "
            f"{stripe.VERSION} pins API version {sdk_pin!r}: Stripe's objects may arrive in "
            "shapes that neither the SDK nor fiko-billing expects.",
            hint=hint,
            id="fiko_billing.W001",
        )
    ]


def _check_subscriber_model() -> list[CheckMessage]:
    # Without the setting the subscriber is AUTH_USER_MODEL, which Django checks itself.
    if not getattr(django_settings, SUBSCRIBER_MODEL_SETTING, None):
        return []
    hint = (
        f"Set {SUBSCRIBER_MODEL_SETTING} to 'app_label.ModelName' of an installed model, "
        "or remove it to bill the user model."
    )
    try:
        label = subscriber_model_label()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint=hint, id="fiko_billing.E011")]
    try:
        apps.get_model(label, require_ready=False)
    except LookupError:
        return [
            Error(
                f"{SUBSCRIBER_MODEL_SETTING} refers to model {label!r}, which is not installed.",
                hint=hint,
                id="fiko_billing.E011",
            )
        ]
    return []


def _check_subscriber_resolver(snapshot: _Snapshot) -> list[CheckMessage]:
    label = subscriber_model_label()
    if get_subscriber_model() is get_user_model():
        return []
    if snapshot.get("SUBSCRIBER_RESOLVER") is not resolve_request_user:
        return []
    where = snapshot.where("SUBSCRIBER_RESOLVER")
    default = " (the default)" if snapshot.is_default("SUBSCRIBER_RESOLVER") else ""
    return [
        Error(
            f"{SUBSCRIBER_MODEL_SETTING} is {label!r}, but {where}{default} returns the "
            f"logged-in user, not a {label}: no API request could be billed to anyone.",
            hint=(
                f"Set {SETTING_NAME}['SUBSCRIBER_RESOLVER'] to the dotted path of a function "
                f"that returns the {label} a request is for (for example the organisation "
                "of request.user), or None when there is none; see 'Who is paying' in the "
                "checkout documentation."
            ),
            id="fiko_billing.E012",
        )
    ]


# ------------------------------------------------------------------ keys and URLs


@checks.register(TAG, Tags.security)
def check_stripe_credentials(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """Keys, webhook secrets and return URLs: E001 to E006, E008, E009."""
    snapshot, _errors = _Snapshot.read()
    if snapshot is None:
        # check_settings reports why; nothing here can be read.
        return []
    messages: list[CheckMessage] = []
    if snapshot.get("ENABLED") is True:
        messages += _check_required(snapshot)
    messages += _check_mode(snapshot)
    messages += _check_key_kinds(snapshot)
    messages += _check_urls(snapshot)
    messages += _check_webhook_secrets(snapshot)
    return messages


def _check_required(snapshot: _Snapshot) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    enabled = snapshot.where("ENABLED")
    secret_key = snapshot.get("STRIPE_SECRET_KEY")
    if isinstance(secret_key, str) and not secret_key.strip():
        where = snapshot.where("STRIPE_SECRET_KEY")
        messages.append(
            Error(
                f"Stripe is enabled ({enabled} is True) but {where} is empty, "
                "so no request to Stripe can be made.",
                hint=(
                    f"Set {snapshot.where_to_set('STRIPE_SECRET_KEY')} to your Stripe secret "
                    "key (sk_test_… or sk_live_…, Stripe Dashboard → Developers → API keys), "
                    f"or set {enabled} to False."
                ),
                id="fiko_billing.E001",
            )
        )
    if snapshot.get("STRIPE_WEBHOOK_SECRET") == ():
        where = snapshot.where("STRIPE_WEBHOOK_SECRET")
        messages.append(
            Error(
                f"Stripe is enabled ({enabled} is True) but {where} is empty, "
                "so every webhook Stripe sends is rejected.",
                hint=(
                    f"Set {snapshot.where_to_set('STRIPE_WEBHOOK_SECRET')} to the signing "
                    "secret (whsec_…) of your webhook endpoint (Stripe Dashboard → Developers "
                    f"→ Webhooks), or set {enabled} to False."
                ),
                id="fiko_billing.E002",
            )
        )
    return messages


def _check_mode(snapshot: _Snapshot) -> list[CheckMessage]:
    test_mode = snapshot.get("TEST_MODE")
    if snapshot.get("ENABLED") is not True or test_mode is _INVALID:
        return []
    mode_where = snapshot.where("TEST_MODE")
    mode_to_set = snapshot.where_to_set("TEST_MODE")
    slots = (
        ("STRIPE_SECRET_KEY", LIVE_SECRET_PREFIXES, TEST_SECRET_PREFIXES),
        ("STRIPE_PUBLISHABLE_KEY", (LIVE_PUBLISHABLE_PREFIX,), (TEST_PUBLISHABLE_PREFIX,)),
    )
    messages: list[CheckMessage] = []
    for key, live_prefixes, test_prefixes in slots:
        value = snapshot.get(key)
        where = snapshot.where(key)
        if test_mode:
            prefix = _startswith(value, live_prefixes)
            if prefix is None:
                continue
            messages.append(
                Error(
                    f"{_capital(where)} holds a live-mode key ({prefix}…) but {mode_where} "
                    "is True.",
                    hint=(
                        f"Put a test-mode key ({prefix.replace('_live_', '_test_')}…) in "
                        f"{where}, or, on a production deployment, set {mode_to_set} to False."
                    ),
                    id="fiko_billing.E003",
                )
            )
        else:
            prefix = _startswith(value, test_prefixes)
            if prefix is None:
                continue
            messages.append(
                Error(
                    f"{_capital(where)} holds a test-mode key ({prefix}…) but {mode_where} "
                    "is False.",
                    hint=(
                        f"Put the live-mode key ({prefix.replace('_test_', '_live_')}…) in "
                        f"{where}, or set {mode_to_set} to True if this deployment must not "
                        "take real payments."
                    ),
                    id="fiko_billing.E004",
                )
            )
    return messages


def _check_key_kinds(snapshot: _Snapshot) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    secret_key = snapshot.get("STRIPE_SECRET_KEY")
    if _startswith(secret_key, PUBLISHABLE_PREFIX):
        where = snapshot.where("STRIPE_SECRET_KEY")
        messages.append(
            Error(
                f"{_capital(where)} holds a publishable key ({_prefix(secret_key)}…), "
                "not a secret key.",
                hint=(
                    f"Put the secret key (sk_…, or a restricted key rk_…) in {where}; the "
                    f"publishable key belongs in {SETTING_NAME}['STRIPE_PUBLISHABLE_KEY']."
                ),
                id="fiko_billing.E005",
            )
        )
    publishable_key = snapshot.get("STRIPE_PUBLISHABLE_KEY")
    if _startswith(publishable_key, SECRET_KEY_PREFIXES):
        where = snapshot.where("STRIPE_PUBLISHABLE_KEY")
        messages.append(
            Error(
                f"{_capital(where)} holds a secret key ({_prefix(publishable_key)}…); "
                "the publishable key is the one a browser may see, a secret key must "
                "never reach one.",
                hint=(
                    f"Put the publishable key (pk_…) in {where}; the secret key belongs in "
                    f"{SETTING_NAME}['STRIPE_SECRET_KEY']. If this key was ever sent to a "
                    "browser, roll it in the Stripe Dashboard."
                ),
                id="fiko_billing.E006",
            )
        )
    return messages


def _check_urls(snapshot: _Snapshot) -> list[CheckMessage]:
    if snapshot.get("TEST_MODE") is not False:
        return []
    mode_where = snapshot.where("TEST_MODE")
    messages: list[CheckMessage] = []
    for key, page in _RETURN_PAGES.items():
        url = snapshot.get(key)
        if url is _INVALID or _is_https(url):
            continue
        where = snapshot.where(key)
        default = " (the default)" if snapshot.is_default(key) else ""
        messages.append(
            Error(
                f"{_capital(where)} is {url!r}{default}, not an https URL, but {mode_where} "
                "is False.",
                hint=f"Set {where} to the https URL of {page}.",
                id="fiko_billing.E008",
            )
        )
    return messages


def _check_webhook_secrets(snapshot: _Snapshot) -> list[CheckMessage]:
    if snapshot.get("STRIPE_WEBHOOK_SECRET") is _INVALID:
        return []
    raw = snapshot.settings.raw("STRIPE_WEBHOOK_SECRET")
    items = [raw] if isinstance(raw, str) else list(raw)
    where = snapshot.where("STRIPE_WEBHOOK_SECRET")
    from_env = where.startswith("the environment variable")
    messages: list[CheckMessage] = []
    for index, secret in enumerate(items):
        if not secret or secret.startswith(WEBHOOK_SECRET_PREFIX):
            continue
        if isinstance(raw, str):
            name = where
        elif from_env:
            name = f"item {index + 1} of {where} (a comma-separated list)"
        else:
            name = f"{where}[{index}]"
        prefix = _prefix(secret)
        looks_like = f" (it starts like an API key, {prefix}…)" if prefix else ""
        messages.append(
            Error(
                f"{_capital(name)} is not a webhook signing secret{looks_like}: signing "
                f"secrets start with {WEBHOOK_SECRET_PREFIX}.",
                hint=(
                    f"Set {name} to the signing secret (whsec_…) of your endpoint, shown in "
                    "the Stripe Dashboard → Developers → Webhooks (or printed by "
                    "`stripe listen`)."
                ),
                id="fiko_billing.E009",
            )
        )
    return messages
