"""The ``FIKO_BILLING`` settings object.

Every value is looked up in this order: the ``FIKO_BILLING`` dict in the Django
settings, then the environment variable named in ``ENV_FALLBACKS`` (the names of
the original integration, so an existing ``.env`` keeps working), then the
default below. The object is rebuilt whenever ``FIKO_BILLING`` changes, so
``override_settings`` works in tests.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any, Literal, cast

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from fiko_billing.api_version import PINNED_API_VERSION as PINNED_API_VERSION

SETTING_NAME = "FIKO_BILLING"
SUBSCRIBER_MODEL_SETTING = "FIKO_BILLING_SUBSCRIBER_MODEL"


DEFAULTS: dict[str, Any] = {
    "ENABLED": True,
    "TEST_MODE": True,
    "STRIPE_SECRET_KEY": "",
    "STRIPE_PUBLISHABLE_KEY": "",
    "STRIPE_WEBHOOK_SECRET": (),
    "STRIPE_API_VERSION": PINNED_API_VERSION,
    "STRIPE_API_BASE": "https://api.stripe.com",
    "STRIPE_TIMEOUT": 30.0,
    "STRIPE_MAX_NETWORK_RETRIES": 2,
    "STRIPE_REQUEST_TIME_BUDGET": 5.0,
    "STRIPE_COMMAND_TIME_BUDGET": 60.0,
    "CHECKOUT_STATUS_POLL_INTERVAL": 3,
    "CURRENCY": "usd",
    "SUCCESS_URL": "http://localhost:8000/billing/success/?session_id={CHECKOUT_SESSION_ID}",
    "CANCEL_URL": "http://localhost:8000/billing/",
    "PORTAL_RETURN_URL": "http://localhost:8000/billing/",
    "SUBSCRIBER_RESOLVER": "fiko_billing.subscribers.resolve_request_user",
    "WEBHOOK_TOLERANCE": 300,
    "GRACE_PERIOD_DAYS": 3,
    "TOKEN_ROLLOVER": False,
    "WEBHOOK_PROCESSING": "sync",
    "ALLOW_PROMOTION_CODES": True,
    "MAX_QUANTITY": 100,
    "PRORATION_BEHAVIOR": "create_prorations",
    "ALLOWED_REDIRECT_HOSTS": (),
    "ALLOW_MULTIPLE_SUBSCRIPTIONS": False,
    "REFUND_SPENT_TOKENS": "debt",
    "WEBHOOK_MAX_FAILURES": 10,
    "WEBHOOK_MAX_WAIT_DAYS": 3,
    "WEBHOOK_EVENT_RETENTION_DAYS": 90,
    "RESERVATION_TIMEOUT": 3600,
}

#: The longest a token reservation may hold its tokens, in seconds (30 days).
MAX_RESERVATION_TIMEOUT = 30 * 24 * 3600

#: Environment variables read when a key is absent from ``FIKO_BILLING``.
ENV_FALLBACKS: dict[str, str] = {
    "ENABLED": "STRIPE_ENABLED",
    "TEST_MODE": "STRIPE_TEST_MODE",
    "STRIPE_SECRET_KEY": "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY": "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET": "STRIPE_WEBHOOK_SECRET",
    "CURRENCY": "STRIPE_CURRENCY",
}

#: Keys whose values must never appear in a message or a log line.
SECRET_KEYS = frozenset({"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"})

#: Keys that hold a dotted path, imported on access.
IMPORT_STRINGS = frozenset({"SUBSCRIBER_RESOLVER"})

WEBHOOK_PROCESSING_MODES = ("sync", "task")
PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")
REFUND_SPENT_TOKENS_POLICIES = ("debt", "forgive")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _env_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"The environment variable {name} must be true or false (1/0, yes/no, on/off), "
        f"not {raw!r}."
    )


def _env_secrets(raw: str) -> tuple[str, ...]:
    # A comma-separated list lets the environment carry two secrets while a
    # webhook signing secret is being rotated.
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _env_str(_name: str, raw: str) -> str:
    return raw


_ENV_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "ENABLED": _env_bool,
    "TEST_MODE": _env_bool,
    "STRIPE_WEBHOOK_SECRET": lambda _name, raw: _env_secrets(raw),
    "CURRENCY": lambda _name, raw: raw.strip().lower(),
}


class BillingSettings:
    """Typed, validated access to ``FIKO_BILLING``.

    Use the module-level ``billing_settings`` instance; it reloads itself when
    the Django setting changes.
    """

    def __init__(self, user_settings: Mapping[str, Any] | None = None) -> None:
        if user_settings is None:
            user_settings = getattr(django_settings, SETTING_NAME, None) or {}
        if not isinstance(user_settings, Mapping):
            raise ImproperlyConfigured(
                f"{SETTING_NAME} must be a dict, not {type(user_settings).__name__}."
            )
        unknown = sorted(set(user_settings) - set(DEFAULTS))
        if unknown:
            names = ", ".join(f"{SETTING_NAME}[{key!r}]" for key in unknown)
            raise ImproperlyConfigured(
                f"Unknown setting {names}. Known keys: {', '.join(sorted(DEFAULTS))}."
            )
        self._user = dict(user_settings)
        self._cache: dict[str, Any] = {}

    def raw(self, key: str) -> Any:
        """The configured value of ``key`` after env fallback, before coercion."""
        if key not in DEFAULTS:
            raise AttributeError(key)
        if key in self._user:
            return self._user[key]
        env_name = ENV_FALLBACKS.get(key)
        if env_name is not None and env_name in os.environ:
            parser = _ENV_PARSERS.get(key, _env_str)
            return parser(env_name, os.environ[env_name])
        return DEFAULTS[key]

    def source(self, key: str) -> str:
        """Where the value of ``key`` comes from, for error messages."""
        if key in self._user:
            return f"{SETTING_NAME}[{key!r}]"
        env_name = ENV_FALLBACKS.get(key)
        if env_name is not None and env_name in os.environ:
            return f"the environment variable {env_name}"
        return f"the default of {SETTING_NAME}[{key!r}]"

    def _get(self, key: str) -> Any:
        if key not in self._cache:
            value = self.raw(key)
            if key in IMPORT_STRINGS and isinstance(value, str):
                try:
                    value = import_string(value)
                except ImportError as exc:
                    raise ImproperlyConfigured(
                        f"{SETTING_NAME}[{key!r}] is {value!r}, which cannot be imported: {exc}"
                    ) from exc
            self._cache[key] = value
        return self._cache[key]

    def _typed(self, key: str, kind: type | tuple[type, ...]) -> Any:
        value = self._get(key)
        # bool is an int; a boolean where a number belongs is a mistake.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _flat(kind)):
            names = " or ".join(k.__name__ for k in _flat(kind))
            # Never quote a secret's value, even a mistyped one.
            shown = type(value).__name__ if key in SECRET_KEYS else repr(value)
            raise ImproperlyConfigured(
                f"{SETTING_NAME}[{key!r}] must be {names}, not {shown} (from {self.source(key)})."
            )
        return value

    @property
    def ENABLED(self) -> bool:
        return bool(self._typed("ENABLED", bool))

    @property
    def TEST_MODE(self) -> bool:
        return bool(self._typed("TEST_MODE", bool))

    @property
    def STRIPE_SECRET_KEY(self) -> str:
        return str(self._typed("STRIPE_SECRET_KEY", str))

    @property
    def STRIPE_PUBLISHABLE_KEY(self) -> str:
        return str(self._typed("STRIPE_PUBLISHABLE_KEY", str))

    @property
    def STRIPE_WEBHOOK_SECRET(self) -> tuple[str, ...]:
        """Every signing secret currently accepted (several while rotating)."""
        value = self._typed("STRIPE_WEBHOOK_SECRET", (str, list, tuple))
        secrets = (value,) if isinstance(value, str) else tuple(value)
        for secret in secrets:
            if not isinstance(secret, str):
                raise ImproperlyConfigured(
                    f"{SETTING_NAME}['STRIPE_WEBHOOK_SECRET'] must be a string or a list of "
                    f"strings (from {self.source('STRIPE_WEBHOOK_SECRET')})."
                )
        return tuple(s for s in secrets if s)

    @property
    def STRIPE_API_VERSION(self) -> str:
        return str(self._typed("STRIPE_API_VERSION", str))

    @property
    def STRIPE_API_BASE(self) -> str:
        return str(self._typed("STRIPE_API_BASE", str)).rstrip("/")

    def _seconds(self, key: str) -> float:
        raw = self._typed(key, (int, float))
        try:
            value = float(raw)
        except OverflowError:
            value = math.inf
        if not (math.isfinite(value) and value > 0):
            raise ImproperlyConfigured(
                f"{SETTING_NAME}[{key!r}] must be a finite number of seconds more than zero, "
                f"not {raw!r} (from {self.source(key)})."
            )
        return value

    @property
    def STRIPE_TIMEOUT(self) -> float:
        """Seconds one HTTP attempt to Stripe may take."""
        return self._seconds("STRIPE_TIMEOUT")

    @property
    def STRIPE_MAX_NETWORK_RETRIES(self) -> int:
        value = int(self._typed("STRIPE_MAX_NETWORK_RETRIES", int))
        if value < 0:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['STRIPE_MAX_NETWORK_RETRIES'] must be zero or more, not {value}."
            )
        return value

    @property
    def STRIPE_REQUEST_TIME_BUDGET(self) -> float:
        """Seconds all the Stripe calls of one API request may take together."""
        return self._seconds("STRIPE_REQUEST_TIME_BUDGET")

    @property
    def STRIPE_COMMAND_TIME_BUDGET(self) -> float:
        """Seconds each Stripe call of a management command may take, retries included."""
        return self._seconds("STRIPE_COMMAND_TIME_BUDGET")

    @property
    def CHECKOUT_STATUS_POLL_INTERVAL(self) -> int:
        """Least whole seconds between two Stripe retrieves of one checkout by the status
        endpoint; 0 asks Stripe on every poll."""
        value = int(self._typed("CHECKOUT_STATUS_POLL_INTERVAL", int))
        if value < 0:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['CHECKOUT_STATUS_POLL_INTERVAL'] must be zero or more "
                f"seconds, not {value}."
            )
        return value

    @property
    def CURRENCY(self) -> str:
        return str(self._typed("CURRENCY", str)).lower()

    @property
    def SUCCESS_URL(self) -> str:
        return str(self._typed("SUCCESS_URL", str))

    @property
    def CANCEL_URL(self) -> str:
        return str(self._typed("CANCEL_URL", str))

    @property
    def PORTAL_RETURN_URL(self) -> str:
        return str(self._typed("PORTAL_RETURN_URL", str))

    @property
    def SUBSCRIBER_RESOLVER(self) -> Callable[[Any], Any]:
        value = self._get("SUBSCRIBER_RESOLVER")
        if not callable(value):
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['SUBSCRIBER_RESOLVER'] must be a callable or the dotted path "
                f"of one, not {value!r}."
            )
        return value  # type: ignore[no-any-return]

    @property
    def WEBHOOK_TOLERANCE(self) -> int:
        value = int(self._typed("WEBHOOK_TOLERANCE", int))
        if value <= 0:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['WEBHOOK_TOLERANCE'] must be a positive number of seconds."
            )
        return value

    @property
    def GRACE_PERIOD_DAYS(self) -> int:
        value = int(self._typed("GRACE_PERIOD_DAYS", int))
        if value < 0:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['GRACE_PERIOD_DAYS'] must be zero or more."
            )
        return value

    @property
    def TOKEN_ROLLOVER(self) -> bool:
        return bool(self._typed("TOKEN_ROLLOVER", bool))

    @property
    def WEBHOOK_PROCESSING(self) -> Literal["sync", "task"]:
        value = self._typed("WEBHOOK_PROCESSING", str)
        if value not in WEBHOOK_PROCESSING_MODES:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['WEBHOOK_PROCESSING'] must be 'sync' or 'task', not {value!r}."
            )
        return value  # type: ignore[no-any-return]

    @property
    def ALLOW_PROMOTION_CODES(self) -> bool:
        return bool(self._typed("ALLOW_PROMOTION_CODES", bool))

    @property
    def MAX_QUANTITY(self) -> int:
        """Upper bound of ``quantity`` when buying token packages."""
        value = int(self._typed("MAX_QUANTITY", int))
        if value < 1:
            raise ImproperlyConfigured(f"{SETTING_NAME}['MAX_QUANTITY'] must be 1 or more.")
        return value

    @property
    def PRORATION_BEHAVIOR(self) -> str:
        value = self._typed("PRORATION_BEHAVIOR", str)
        if value not in PRORATION_BEHAVIORS:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['PRORATION_BEHAVIOR'] must be one of "
                f"{', '.join(PRORATION_BEHAVIORS)}, not {value!r}."
            )
        return str(value)

    @property
    def ALLOW_MULTIPLE_SUBSCRIPTIONS(self) -> bool:
        """Whether a subscriber may hold several plan subscriptions at once."""
        return bool(self._typed("ALLOW_MULTIPLE_SUBSCRIPTIONS", bool))

    @property
    def REFUND_SPENT_TOKENS(self) -> Literal["debt", "forgive"]:
        """What a refund or dispute does with tokens of its payment already spent."""
        value = self._typed("REFUND_SPENT_TOKENS", str)
        if value not in REFUND_SPENT_TOKENS_POLICIES:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['REFUND_SPENT_TOKENS'] must be 'debt' or 'forgive', "
                f"not {value!r}."
            )
        return value  # type: ignore[no-any-return]

    @property
    def WEBHOOK_MAX_FAILURES(self) -> int:
        """Failed attempts after which a stored event is set aside (status ``dead``)."""
        value = int(self._typed("WEBHOOK_MAX_FAILURES", int))
        if value < 1:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['WEBHOOK_MAX_FAILURES'] must be 1 or more."
            )
        return value

    @property
    def WEBHOOK_MAX_WAIT_DAYS(self) -> int:
        """Days an event may wait for its cause before it is set aside (status ``dead``)."""
        value = int(self._typed("WEBHOOK_MAX_WAIT_DAYS", int))
        if value < 1:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['WEBHOOK_MAX_WAIT_DAYS'] must be 1 or more."
            )
        return value

    @property
    def WEBHOOK_EVENT_RETENTION_DAYS(self) -> int:
        """Days a processed event is kept (``prune_webhook_events``); more than Stripe's 30."""
        value = int(self._typed("WEBHOOK_EVENT_RETENTION_DAYS", int))
        if value < 31:
            # A pruned event Stripe still lists would be fetched and run again by
            # sync_stripe_events: its id is what makes processing exactly-once.
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['WEBHOOK_EVENT_RETENTION_DAYS'] must be 31 or more."
            )
        return value

    @property
    def ALLOWED_REDIRECT_HOSTS(self) -> frozenset[str]:
        """Hosts a client may name in a ``return_url``, besides those of our own URLs."""
        value = self._typed("ALLOWED_REDIRECT_HOSTS", (list, tuple, set, frozenset))
        return frozenset(str(host).lower() for host in value)

    @property
    def RESERVATION_TIMEOUT(self) -> int:
        """Seconds a token reservation holds its tokens unless ``reserve`` says otherwise."""
        value = int(self._typed("RESERVATION_TIMEOUT", int))
        if not 0 < value <= MAX_RESERVATION_TIMEOUT:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['RESERVATION_TIMEOUT'] must be a number of seconds above 0 "
                f"and at most {MAX_RESERVATION_TIMEOUT} (30 days), not {value!r}."
            )
        return value


def _flat(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


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
