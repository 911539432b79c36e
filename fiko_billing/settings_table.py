"""Every key of ``FIKO_BILLING``, declared once: type, default, environment variable, checks.

``fiko_billing.conf`` reads values through this table, the system checks
report what it rejects, and the settings reference in the docs is generated
from it. Adding a setting is one ``Setting(...)`` line in ``SETTINGS``;
retiring one moves its name to ``REMOVED_SETTINGS`` with what to do instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from fiko_billing.api_version import PINNED_API_VERSION

#: The longest a token reservation may hold its tokens, in seconds (30 days).
MAX_RESERVATION_TIMEOUT = 30 * 24 * 3600

WEBHOOK_PROCESSING_MODES = ("sync", "task")
PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")
REFUND_SPENT_TOKENS_POLICIES = ("debt", "forgive")


class Invalid(ValueError):
    """A value a validator rejects: what was expected, and how to show what was given.

    ``shown`` replaces the value's ``repr`` in the message; the accessor never
    quotes the value of a secret setting, whatever a validator says.
    """

    def __init__(self, expected: str, shown: str | None = None) -> None:
        super().__init__(expected)
        self.expected = expected
        self.shown = shown


# ------------------------------------------------------------------ validators
# Each takes the value (already of an accepted type), returns it cleaned, or
# raises Invalid. ``text`` describes the accepted values in the reference.


@dataclass(frozen=True)
class Range:
    """A whole number from ``minimum`` up to ``maximum`` (inclusive), in ``unit``."""

    minimum: int
    maximum: int | None = None
    unit: str = ""
    note: str = ""

    @property
    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.maximum is None:
            return f"{self.minimum} or more{unit}"
        return f"from {self.minimum} to {self.maximum}{unit}{self.note}"

    def __call__(self, value: int) -> int:
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            raise Invalid(self.text)
        return value


@dataclass(frozen=True)
class Seconds:
    """A finite number of seconds above zero, as a float."""

    text: str = "a finite number of seconds more than zero"

    def __call__(self, value: float) -> float:
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if not (math.isfinite(seconds) and seconds > 0):
            raise Invalid(self.text)
        return seconds


@dataclass(frozen=True)
class OneOf:
    """One of a few fixed strings."""

    choices: tuple[str, ...]

    @property
    def text(self) -> str:
        return "one of " + ", ".join(repr(choice) for choice in self.choices)

    def __call__(self, value: str) -> str:
        if value not in self.choices:
            raise Invalid(self.text)
        return value


@dataclass(frozen=True)
class Transform:
    """Normalises a value that is always valid once its type is (no range to state)."""

    function: Callable[[Any], Any]
    text: str = ""

    def __call__(self, value: Any) -> Any:
        return self.function(value)


def _secrets(value: str | list[Any] | tuple[Any, ...]) -> tuple[str, ...]:
    secrets = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(secret, str) for secret in secrets):
        kinds = ", ".join(sorted({type(secret).__name__ for secret in secrets}))
        raise Invalid("a string or a list of strings", f"a list with items of type {kinds}")
    return tuple(secret for secret in secrets if secret)


@dataclass(frozen=True)
class ImportedCallable:
    """A callable, or the dotted path of one (imported on first use)."""

    text: str = "a callable or the dotted path of one"

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = import_string(value)
            except ImportError as exc:
                raise Invalid(self.text, f"{value!r}, which cannot be imported ({exc})") from exc
        if not callable(value):
            raise Invalid(self.text, repr(value))
        return value


Validator = Range | Seconds | OneOf | Transform | ImportedCallable

# ------------------------------------------------------------------ environment
# Each parses the text of an environment variable into a value of the setting.

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def env_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"The environment variable {name} must be true or false (1/0, yes/no, on/off), "
        f"not {raw!r}."
    )


def env_list(_name: str, raw: str) -> tuple[str, ...]:
    # A comma-separated list lets the environment carry two secrets while a
    # webhook signing secret is being rotated.
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def env_code(_name: str, raw: str) -> str:
    return raw.strip().lower()


def env_text(_name: str, raw: str) -> str:
    return raw


_ENV_DOC: dict[Callable[[str, str], Any], str] = {
    env_bool: "boolean",
    env_list: "comma-separated list",
    env_code: "trimmed, lower-cased",
}


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Setting:
    """One key of ``FIKO_BILLING``.

    ``types`` are the accepted Python types (empty: any, the validators
    decide), ``env`` the environment variable read when the key is absent from
    the dict, ``env_parse`` how its text becomes a value, ``secret`` whether
    the value may never be shown, ``type_text`` the type as the reference
    spells it when the Python types do not say it well.
    """

    name: str
    types: tuple[type, ...]
    default: Any = field(repr=False)
    validators: tuple[Validator, ...] = ()
    env: str | None = None
    env_parse: Callable[[str, str], Any] = env_text
    secret: bool = False
    type_text: str = ""

    def __repr__(self) -> str:
        return f"Setting({self.name!r})"

    def clean(self, value: Any) -> Any:
        """The value as code reads it; raises ``Invalid`` for a value it cannot be."""
        # bool is an int; a boolean where a number belongs is a mistake.
        if self.types and (
            not isinstance(value, self.types)
            or (isinstance(value, bool) and bool not in self.types)
        ):
            raise Invalid(" or ".join(kind.__name__ for kind in self.types))
        for validator in self.validators:
            value = validator(value)
        return value

    @property
    def type_doc(self) -> str:
        """The accepted values, for the reference."""
        text = self.type_text or " or ".join(f"`{kind.__name__}`" for kind in self.types)
        ranges = [
            v.text for v in self.validators if not isinstance(v, Transform | ImportedCallable)
        ]
        return ", ".join([text, *ranges])

    @property
    def env_doc(self) -> str:
        return _ENV_DOC.get(self.env_parse, "taken as is")


_text = (str,)
_number = (int, float)
_text_or_texts = "`str` or list of `str`"

SETTINGS: tuple[Setting, ...] = (
    Setting("ENABLED", (bool,), True, env="STRIPE_ENABLED", env_parse=env_bool),
    Setting("TEST_MODE", (bool,), True, env="STRIPE_TEST_MODE", env_parse=env_bool),
    Setting("STRIPE_SECRET_KEY", _text, "", env="STRIPE_SECRET_KEY", secret=True),
    Setting("STRIPE_PUBLISHABLE_KEY", _text, "", env="STRIPE_PUBLISHABLE_KEY"),
    Setting(
        "STRIPE_WEBHOOK_SECRET",
        (str, list, tuple),
        (),
        (Transform(_secrets),),
        env="STRIPE_WEBHOOK_SECRET",
        env_parse=env_list,
        secret=True,
        type_text=_text_or_texts,
    ),
    Setting("STRIPE_API_VERSION", _text, PINNED_API_VERSION),
    Setting(
        "STRIPE_API_BASE", _text, "https://api.stripe.com", (Transform(lambda v: v.rstrip("/")),)
    ),
    Setting("STRIPE_TIMEOUT", _number, 30.0, (Seconds(),)),
    Setting("STRIPE_MAX_NETWORK_RETRIES", (int,), 2, (Range(0),)),
    Setting("STRIPE_REQUEST_TIME_BUDGET", _number, 5.0, (Seconds(),)),
    Setting("STRIPE_COMMAND_TIME_BUDGET", _number, 60.0, (Seconds(),)),
    Setting(
        "CURRENCY",
        _text,
        "usd",
        (Transform(str.lower),),
        env="STRIPE_CURRENCY",
        env_parse=env_code,
    ),
    Setting(
        "SUCCESS_URL",
        _text,
        "http://localhost:8000/billing/return/checkout-success/?session_id={CHECKOUT_SESSION_ID}",
    ),
    Setting("CANCEL_URL", _text, "http://localhost:8000/billing/return/checkout-canceled/"),
    Setting("PORTAL_RETURN_URL", _text, "http://localhost:8000/billing/return/portal/"),
    Setting(
        "ALLOWED_REDIRECT_HOSTS",
        (list, tuple, set, frozenset),
        (),
        (Transform(lambda hosts: frozenset(str(host).lower() for host in hosts)),),
        type_text="list, tuple or set of `str`",
    ),
    Setting(
        "SUBSCRIBER_RESOLVER",
        (),
        "fiko_billing.subscribers.resolve_request_user",
        (ImportedCallable(),),
        type_text="dotted path or callable",
    ),
    Setting("ALLOW_PROMOTION_CODES", (bool,), True),
    Setting("MAX_QUANTITY", (int,), 100, (Range(1),)),
    Setting("PRORATION_BEHAVIOR", _text, "create_prorations", (OneOf(PRORATION_BEHAVIORS),)),
    Setting("REFUND_SPENT_TOKENS", _text, "debt", (OneOf(REFUND_SPENT_TOKENS_POLICIES),)),
    Setting("ALLOW_MULTIPLE_SUBSCRIPTIONS", (bool,), False),
    Setting("TOKEN_ROLLOVER", (bool,), False),
    Setting("GRACE_PERIOD_DAYS", (int,), 3, (Range(0, unit="days"),)),
    Setting("CHECKOUT_STATUS_POLL_INTERVAL", (int,), 3, (Range(0, unit="seconds"),)),
    Setting("WEBHOOK_TOLERANCE", (int,), 300, (Range(1, unit="seconds"),)),
    Setting("WEBHOOK_MAX_FAILURES", (int,), 10, (Range(1),)),
    Setting("WEBHOOK_MAX_WAIT_DAYS", (int,), 3, (Range(1, unit="days"),)),
    # More than Stripe's 30 days: a pruned event Stripe still lists would be
    # fetched and run again by sync_stripe_events (its id makes it exactly-once).
    Setting("WEBHOOK_EVENT_RETENTION_DAYS", (int,), 90, (Range(31, unit="days"),)),
    Setting("WEBHOOK_PROCESSING", _text, "sync", (OneOf(WEBHOOK_PROCESSING_MODES),)),
    Setting(
        "RESERVATION_TIMEOUT",
        (int,),
        3600,
        (Range(1, MAX_RESERVATION_TIMEOUT, "seconds", " (30 days)"),),
    ),
)

#: Keys that no longer exist, and what to do instead. A removed key in
#: ``FIKO_BILLING`` raises ``ImproperlyConfigured`` quoting this text.
REMOVED_SETTINGS: dict[str, str] = {}

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}
