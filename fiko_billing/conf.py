"""The ``FIKO_BILLING`` settings object: one accessor over the table of settings.

Every value is looked up in this order: the ``FIKO_BILLING`` dict in the Django
settings, then the environment variable the table names for the key (the names
of the original integration, so an existing ``.env`` keeps working), then the
key's default. The keys, their types, defaults and validation are declared once,
in ``fiko_billing.settings_table``. The object is rebuilt whenever
``FIKO_BILLING`` changes, so ``override_settings`` works in tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Literal, cast

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from fiko_billing.api_version import PINNED_API_VERSION as PINNED_API_VERSION
from fiko_billing.settings_table import BY_NAME, REMOVED_SETTINGS, SETTINGS, Invalid
from fiko_billing.settings_table import MAX_RESERVATION_TIMEOUT as MAX_RESERVATION_TIMEOUT

SETTING_NAME = "FIKO_BILLING"
SUBSCRIBER_MODEL_SETTING = "FIKO_BILLING_SUBSCRIBER_MODEL"

#: Every key and its default, in the order of the table.
DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}

#: Environment variables read when a key is absent from ``FIKO_BILLING``.
ENV_FALLBACKS: dict[str, str] = {s.name: s.env for s in SETTINGS if s.env is not None}

#: Keys whose values must never appear in a message, a repr or a log line.
SECRET_KEYS = frozenset(setting.name for setting in SETTINGS if setting.secret)


class Origin(StrEnum):
    """Where the value of a key comes from."""

    DICT = "dict"
    ENVIRONMENT = "environment"
    DEFAULT = "default"


class BillingSettings:
    """Typed, validated access to ``FIKO_BILLING``.

    Use the module-level ``billing_settings`` instance; it reloads itself when
    the Django setting changes. Every key of the table is an attribute; the
    annotations below give code its types (a key without one reads as ``Any``).
    """

    ENABLED: bool
    TEST_MODE: bool
    STRIPE_SECRET_KEY: str
    STRIPE_PUBLISHABLE_KEY: str
    #: Every signing secret currently accepted (several while rotating).
    STRIPE_WEBHOOK_SECRET: tuple[str, ...]
    STRIPE_API_VERSION: str
    STRIPE_API_BASE: str
    STRIPE_TIMEOUT: float
    STRIPE_MAX_NETWORK_RETRIES: int
    STRIPE_REQUEST_TIME_BUDGET: float
    STRIPE_COMMAND_TIME_BUDGET: float
    CHECKOUT_STATUS_POLL_INTERVAL: int
    CURRENCY: str
    SUCCESS_URL: str
    CANCEL_URL: str
    PORTAL_RETURN_URL: str
    ALLOWED_REDIRECT_HOSTS: frozenset[str]
    SUBSCRIBER_RESOLVER: Callable[[Any], Any]
    ALLOW_PROMOTION_CODES: bool
    MAX_QUANTITY: int
    PRORATION_BEHAVIOR: str
    TOKEN_ROLLOVER: bool
    GRACE_PERIOD_DAYS: int
    WEBHOOK_TOLERANCE: int
    WEBHOOK_PROCESSING: Literal["sync", "task"]
    RESERVATION_TIMEOUT: int
    WEBHOOK_MAX_FAILURES: int
    WEBHOOK_MAX_WAIT_DAYS: int
    WEBHOOK_EVENT_RETENTION_DAYS: int
    REFUND_SPENT_TOKENS: Literal["debt", "forgive"]
    ALLOW_MULTIPLE_SUBSCRIPTIONS: bool

    def __init__(self, user_settings: Mapping[str, Any] | None = None) -> None:
        if user_settings is None:
            user_settings = getattr(django_settings, SETTING_NAME, None) or {}
        if not isinstance(user_settings, Mapping):
            raise ImproperlyConfigured(
                f"{SETTING_NAME} must be a dict, not {type(user_settings).__name__}."
            )
        _reject_unknown_keys(user_settings)
        self._user = dict(user_settings)
        self._cache: dict[str, Any] = {}

    @property
    def key_livemode(self) -> bool | None:
        """Whether ``STRIPE_SECRET_KEY`` is a live-mode key (``sk_live_``, ``rk_live_``);
        ``None`` when its prefix names neither mode."""
        key = self.STRIPE_SECRET_KEY
        if key.startswith(("sk_live_", "rk_live_")):
            return True
        if key.startswith(("sk_test_", "rk_test_")):
            return False
        return None

    def __getattr__(self, name: str) -> Any:
        if name in BY_NAME:
            return self.get(name)
        raise AttributeError(name)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{key}=<secret>" if key in SECRET_KEYS else f"{key}={self.raw(key)!r}"
            for key in self._user
        )
        return f"<BillingSettings {SETTING_NAME}: {{{shown}}}>"

    def get(self, key: str) -> Any:
        """The value of ``key``, cleaned and validated; ``ImproperlyConfigured`` if invalid."""
        if key not in self._cache:
            setting = BY_NAME[key]
            raw = self.raw(key)
            try:
                self._cache[key] = setting.clean(raw)
            except Invalid as exc:
                shown = exc.shown or (type(raw).__name__ if setting.secret else repr(raw))
                raise ImproperlyConfigured(
                    f"{SETTING_NAME}[{key!r}] must be {exc.expected}, not {shown} "
                    f"(from {self.source(key)})."
                ) from exc
        return self._cache[key]

    def raw(self, key: str) -> Any:
        """The configured value of ``key`` after env fallback, before cleaning."""
        setting = BY_NAME.get(key)
        if setting is None:
            raise AttributeError(key)
        if key in self._user:
            return self._user[key]
        if setting.env is not None and setting.env in os.environ:
            return setting.env_parse(setting.env, os.environ[setting.env])
        return setting.default

    def origin(self, key: str) -> Origin:
        if key in self._user:
            return Origin.DICT
        env = BY_NAME[key].env
        if env is not None and env in os.environ:
            return Origin.ENVIRONMENT
        return Origin.DEFAULT

    def source(self, key: str) -> str:
        """Where the value of ``key`` comes from, for error messages."""
        origin = self.origin(key)
        if origin is Origin.ENVIRONMENT:
            return f"the environment variable {BY_NAME[key].env}"
        if origin is Origin.DEFAULT:
            return f"the default of {SETTING_NAME}[{key!r}]"
        return f"{SETTING_NAME}[{key!r}]"

    def where(self, key: str) -> str:
        """The place to change ``key``: the dict entry, or the variable it came from."""
        origin = self.origin(key)
        if origin is Origin.ENVIRONMENT:
            return self.source(key)
        return f"{SETTING_NAME}[{key!r}]"

    def where_to_set(self, key: str) -> str:
        """Both spellings of ``key`` when it is unset and has an environment variable."""
        env = BY_NAME[key].env
        if self.origin(key) is Origin.DEFAULT and env is not None:
            return f"{SETTING_NAME}[{key!r}] or the environment variable {env}"
        return self.where(key)


def _reject_unknown_keys(user_settings: Mapping[str, Any]) -> None:
    removed = sorted(set(user_settings) & set(REMOVED_SETTINGS))
    if removed:
        raise ImproperlyConfigured(
            " ".join(
                f"{SETTING_NAME}[{key!r}] was removed: {REMOVED_SETTINGS[key]}" for key in removed
            )
        )
    unknown = sorted(set(user_settings) - set(BY_NAME))
    if unknown:
        names = ", ".join(f"{SETTING_NAME}[{key!r}]" for key in unknown)
        raise ImproperlyConfigured(
            f"Unknown setting {names}. Known keys: {', '.join(sorted(BY_NAME))}."
        )


class _LazyBillingSettings:
    """Builds ``BillingSettings`` on first use and again after a settings change."""

    _wrapped: BillingSettings | None = None

    def _setup(self) -> BillingSettings:
        if self._wrapped is None:
            self._wrapped = BillingSettings()
        return self._wrapped

    def reload(self) -> None:
        self._wrapped = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._setup(), name)

    def __repr__(self) -> str:
        return repr(self._setup())


_lazy_settings = _LazyBillingSettings()

#: The settings of this app. Attribute access is typed as ``BillingSettings``.
billing_settings = cast(BillingSettings, _lazy_settings)


def reload_billing_settings() -> None:
    """Forget the cached settings; the next access reads ``FIKO_BILLING`` again."""
    _lazy_settings.reload()


@receiver(setting_changed)
def _reload_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        reload_billing_settings()


def subscriber_model_label() -> str:
    """``app_label.ModelName`` of the model that pays (``FIKO_BILLING_SUBSCRIBER_MODEL``)."""
    label = (
        getattr(django_settings, SUBSCRIBER_MODEL_SETTING, None) or django_settings.AUTH_USER_MODEL
    )
    if not isinstance(label, str) or label.count(".") != 1:
        raise ImproperlyConfigured(
            f"{SUBSCRIBER_MODEL_SETTING} must be of the form 'app_label.ModelName', not {label!r}."
        )
    return label


def subscriber_model_reference() -> str:
    """The subscriber model as the models' foreign keys name it; never raises.

    A malformed ``FIKO_BILLING_SUBSCRIBER_MODEL`` must reach the system check
    (``fiko_billing.E011``) rather than fail as the models are imported, so
    the keys then point at the user model. Nothing runs on that: the check is
    an error, and every other reader (``subscriber_model_label()``, the
    migration, ``get_subscriber_model()``) still raises.
    """
    try:
        return subscriber_model_label()
    except ImproperlyConfigured:
        return str(django_settings.AUTH_USER_MODEL)
