"""The settings object: precedence, environment parsing, validation, reloading."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings

from fiko_billing import conf, settings_table
from fiko_billing.conf import (
    DEFAULTS,
    ENV_FALLBACKS,
    PINNED_API_VERSION,
    billing_settings,
    reload_billing_settings,
    subscriber_model_label,
)
from fiko_billing.subscribers import get_subscriber_model, resolve_request_user


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No fallback variable of the machine running the suite leaks into these tests."""
    for env_name in ENV_FALLBACKS.values():
        monkeypatch.delenv(env_name, raising=False)
    reload_billing_settings()
    yield
    # Deleting a setting sends no setting_changed; forget whatever was cached.
    reload_billing_settings()


@pytest.fixture
def configure(settings: Any) -> Any:
    """Replace ``FIKO_BILLING`` for one test."""

    def apply(**values: Any) -> None:
        settings.FIKO_BILLING = values

    return apply


def set_env(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    reload_billing_settings()


def custom_resolver(request: Any) -> str:
    return "the custom resolver"


NOT_CALLABLE = "not a function"


# Precedence: FIKO_BILLING > environment > default


def test_the_environment_fallbacks_are_the_names_of_the_original_integration() -> None:
    assert ENV_FALLBACKS == {
        "ENABLED": "STRIPE_ENABLED",
        "TEST_MODE": "STRIPE_TEST_MODE",
        "STRIPE_SECRET_KEY": "STRIPE_SECRET_KEY",
        "STRIPE_PUBLISHABLE_KEY": "STRIPE_PUBLISHABLE_KEY",
        "STRIPE_WEBHOOK_SECRET": "STRIPE_WEBHOOK_SECRET",
        "CURRENCY": "STRIPE_CURRENCY",
    }


# key, environment variable, raw environment value, value read from it,
# value given in FIKO_BILLING (and what it reads as), default.
PRECEDENCE = [
    ("ENABLED", "STRIPE_ENABLED", "false", False, True, True, True),
    ("ENABLED", "STRIPE_ENABLED", "true", True, False, False, True),
    ("TEST_MODE", "STRIPE_TEST_MODE", "false", False, True, True, True),
    ("TEST_MODE", "STRIPE_TEST_MODE", "true", True, False, False, True),
    (
        "STRIPE_SECRET_KEY",
        "STRIPE_SECRET_KEY",
        "sk_test_from_env",
        "sk_test_from_env",
        "sk_test_from_dict",
        "sk_test_from_dict",
        "",
    ),
    (
        "STRIPE_PUBLISHABLE_KEY",
        "STRIPE_PUBLISHABLE_KEY",
        "pk_test_from_env",
        "pk_test_from_env",
        "pk_test_from_dict",
        "pk_test_from_dict",
        "",
    ),
    (
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_WEBHOOK_SECRET",
        "whsec_env",
        ("whsec_env",),
        "whsec_dict",
        ("whsec_dict",),
        (),
    ),
    ("CURRENCY", "STRIPE_CURRENCY", "eur", "eur", "gbp", "gbp", "usd"),
]


@pytest.mark.parametrize(
    ("key", "env_name", "env_raw", "env_value", "dict_raw", "dict_value", "default"),
    PRECEDENCE,
)
def test_precedence_dict_then_environment_then_default(
    configure: Any,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    env_name: str,
    env_raw: str,
    env_value: Any,
    dict_raw: Any,
    dict_value: Any,
    default: Any,
) -> None:
    configure()
    assert getattr(billing_settings, key) == default
    assert billing_settings.source(key) == f"the default of FIKO_BILLING[{key!r}]"

    set_env(monkeypatch, env_name, env_raw)
    assert getattr(billing_settings, key) == env_value
    assert billing_settings.source(key) == f"the environment variable {env_name}"

    configure(**{key: dict_raw})
    assert getattr(billing_settings, key) == dict_value
    assert billing_settings.source(key) == f"FIKO_BILLING[{key!r}]"


def test_a_key_without_environment_fallback_ignores_a_variable_of_the_same_name(
    configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure()
    set_env(monkeypatch, "WEBHOOK_TOLERANCE", "10")
    set_env(monkeypatch, "STRIPE_API_BASE", "http://127.0.0.1:1")
    assert billing_settings.WEBHOOK_TOLERANCE == 300
    assert billing_settings.STRIPE_API_BASE == "https://api.stripe.com"


def test_every_default(configure: Any) -> None:
    configure()
    expected = {
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
        "SUCCESS_URL": "http://localhost:8000/billing/return/checkout-success/?session_id={CHECKOUT_SESSION_ID}",
        "CANCEL_URL": "http://localhost:8000/billing/return/checkout-canceled/",
        "PORTAL_RETURN_URL": "http://localhost:8000/billing/return/portal/",
        "SUBSCRIBER_RESOLVER": resolve_request_user,
        "WEBHOOK_TOLERANCE": 300,
        "GRACE_PERIOD_DAYS": 3,
        "TOKEN_ROLLOVER": False,
        "WEBHOOK_PROCESSING": "sync",
        "ALLOW_PROMOTION_CODES": True,
        "MAX_QUANTITY": 100,
        "PRORATION_BEHAVIOR": "create_prorations",
        "ALLOWED_REDIRECT_HOSTS": frozenset(),
        "ALLOW_MULTIPLE_SUBSCRIPTIONS": False,
        "REFUND_SPENT_TOKENS": "debt",
        "WEBHOOK_MAX_FAILURES": 10,
        "WEBHOOK_MAX_WAIT_DAYS": 3,
        "WEBHOOK_EVENT_RETENTION_DAYS": 90,
        "RESERVATION_TIMEOUT": 3600,
    }
    # A key added to DEFAULTS without a property (or to this test) fails here.
    assert set(expected) == set(DEFAULTS)
    assert {key: getattr(billing_settings, key) for key in DEFAULTS} == expected
    assert PINNED_API_VERSION == "2026-10-28.endive"


def test_no_fiko_billing_setting_at_all_means_the_defaults(settings: Any) -> None:
    del settings.FIKO_BILLING
    reload_billing_settings()
    assert billing_settings.STRIPE_SECRET_KEY == ""
    assert billing_settings.source("STRIPE_SECRET_KEY") == (
        "the default of FIKO_BILLING['STRIPE_SECRET_KEY']"
    )


def test_raw_and_source_reject_an_unknown_key(configure: Any) -> None:
    configure()
    with pytest.raises(AttributeError):
        billing_settings.raw("TYPO")


# Environment parsing


@pytest.mark.parametrize("env_name", ["STRIPE_ENABLED", "STRIPE_TEST_MODE"])
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("0", False),
        ("true", True),
        ("false", False),
        ("True", True),
        ("FALSE", False),
        ("yes", True),
        ("no", False),
        ("YES", True),
        ("No", False),
        ("on", True),
        ("off", False),
        ("On", True),
        ("OFF", False),
        (" true ", True),
        ("", False),
    ],
)
def test_environment_booleans(
    configure: Any, monkeypatch: pytest.MonkeyPatch, env_name: str, raw: str, expected: bool
) -> None:
    configure()
    set_env(monkeypatch, env_name, raw)
    key = "ENABLED" if env_name == "STRIPE_ENABLED" else "TEST_MODE"
    assert getattr(billing_settings, key) is expected


@pytest.mark.parametrize("env_name", ["STRIPE_ENABLED", "STRIPE_TEST_MODE"])
@pytest.mark.parametrize("raw", ["maybe", "2", "-1", "y", "n", "truee", "enabled", "none"])
def test_an_environment_boolean_that_is_not_one_names_the_variable(
    configure: Any, monkeypatch: pytest.MonkeyPatch, env_name: str, raw: str
) -> None:
    configure()
    set_env(monkeypatch, env_name, raw)
    key = "ENABLED" if env_name == "STRIPE_ENABLED" else "TEST_MODE"
    with pytest.raises(ImproperlyConfigured) as excinfo:
        getattr(billing_settings, key)
    assert str(excinfo.value) == (
        f"The environment variable {env_name} must be true or false (1/0, yes/no, on/off), "
        f"not {raw!r}."
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("whsec_one", ("whsec_one",)),
        ("whsec_one,whsec_two", ("whsec_one", "whsec_two")),
        (" whsec_one , whsec_two ", ("whsec_one", "whsec_two")),
        ("whsec_one,,whsec_two,", ("whsec_one", "whsec_two")),
        ("", ()),
        (" , ", ()),
    ],
)
def test_environment_webhook_secrets_are_a_comma_list(
    configure: Any, monkeypatch: pytest.MonkeyPatch, raw: str, expected: tuple[str, ...]
) -> None:
    configure()
    set_env(monkeypatch, "STRIPE_WEBHOOK_SECRET", raw)
    secrets = billing_settings.STRIPE_WEBHOOK_SECRET
    assert secrets == expected


@pytest.mark.parametrize(("raw", "expected"), [("EUR", "eur"), (" Gbp ", "gbp"), ("jpy", "jpy")])
def test_environment_currency_is_lower_cased(
    configure: Any, monkeypatch: pytest.MonkeyPatch, raw: str, expected: str
) -> None:
    configure()
    set_env(monkeypatch, "STRIPE_CURRENCY", raw)
    currency = billing_settings.CURRENCY
    assert currency == expected
    # Lower-cased as it is read, so checks that look at the raw value agree.
    assert billing_settings.raw("CURRENCY") == expected


def test_dict_currency_is_lower_cased(configure: Any) -> None:
    configure(CURRENCY="EUR")
    assert billing_settings.CURRENCY == "eur"


def test_environment_strings_are_taken_as_they_are(
    configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure()
    set_env(monkeypatch, "STRIPE_SECRET_KEY", "sk_test_a,b")
    assert billing_settings.STRIPE_SECRET_KEY == "sk_test_a,b"


# STRIPE_WEBHOOK_SECRET in the dict


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("whsec_one", ("whsec_one",)),
        ("", ()),
        (["whsec_one", "whsec_two"], ("whsec_one", "whsec_two")),
        (("whsec_one",), ("whsec_one",)),
        (["whsec_one", ""], ("whsec_one",)),
        ([], ()),
    ],
)
def test_dict_webhook_secret_string_or_list(configure: Any, value: Any, expected: Any) -> None:
    configure(STRIPE_WEBHOOK_SECRET=value)
    secrets = billing_settings.STRIPE_WEBHOOK_SECRET
    assert secrets == expected


@pytest.mark.parametrize("value", [["whsec_one", 2], [None]])
def test_dict_webhook_secret_list_of_non_strings(configure: Any, value: Any) -> None:
    configure(STRIPE_WEBHOOK_SECRET=value)
    with pytest.raises(ImproperlyConfigured) as excinfo:
        billing_settings.STRIPE_WEBHOOK_SECRET  # noqa: B018
    kinds = ", ".join(sorted({type(item).__name__ for item in value}))
    assert str(excinfo.value) == (
        "FIKO_BILLING['STRIPE_WEBHOOK_SECRET'] must be a string or a list of strings, "
        f"not a list with items of type {kinds} (from FIKO_BILLING['STRIPE_WEBHOOK_SECRET'])."
    )


# The shape of FIKO_BILLING


def test_an_unknown_key_is_named(configure: Any) -> None:
    configure(ENABLED=True, TYPO=1)
    with pytest.raises(ImproperlyConfigured) as excinfo:
        billing_settings.ENABLED  # noqa: B018
    message = str(excinfo.value)
    assert message.startswith("Unknown setting FIKO_BILLING['TYPO']. Known keys: ")
    assert "FIKO_BILLING['ENABLED']" not in message
    assert "STRIPE_SECRET_KEY" in message


def test_several_unknown_keys_are_all_named(configure: Any) -> None:
    configure(TYPO=1, ENABLE=True)
    with pytest.raises(ImproperlyConfigured, match=re.escape("Unknown setting ")) as excinfo:
        billing_settings.ENABLED  # noqa: B018
    assert "FIKO_BILLING['ENABLE'], FIKO_BILLING['TYPO']" in str(excinfo.value)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(["ENABLED"], "list"), ("ENABLED=1", "str"), (("ENABLED", True), "tuple"), (1, "int")],
)
def test_fiko_billing_must_be_a_dict(settings: Any, value: Any, type_name: str) -> None:
    settings.FIKO_BILLING = value
    with pytest.raises(ImproperlyConfigured) as excinfo:
        billing_settings.ENABLED  # noqa: B018
    assert str(excinfo.value) == f"FIKO_BILLING must be a dict, not {type_name}."


# Types and values


@pytest.mark.parametrize(
    ("key", "value", "expected_type"),
    [
        ("MAX_QUANTITY", True, "int"),
        ("WEBHOOK_TOLERANCE", True, "int"),
        ("GRACE_PERIOD_DAYS", False, "int"),
        ("STRIPE_MAX_NETWORK_RETRIES", True, "int"),
        ("STRIPE_TIMEOUT", True, "int or float"),
        ("STRIPE_TIMEOUT", "30", "int or float"),
        ("STRIPE_REQUEST_TIME_BUDGET", "5", "int or float"),
        ("STRIPE_REQUEST_TIME_BUDGET", None, "int or float"),
        ("STRIPE_COMMAND_TIME_BUDGET", False, "int or float"),
        ("CHECKOUT_STATUS_POLL_INTERVAL", 2.5, "int"),
        ("CHECKOUT_STATUS_POLL_INTERVAL", True, "int"),
        ("MAX_QUANTITY", "5", "int"),
        ("MAX_QUANTITY", 5.0, "int"),
        ("ENABLED", "yes", "bool"),
        ("TEST_MODE", 1, "bool"),
        ("TOKEN_ROLLOVER", "false", "bool"),
        ("ALLOW_PROMOTION_CODES", 0, "bool"),
        ("STRIPE_PUBLISHABLE_KEY", None, "str"),
        ("CURRENCY", 840, "str"),
        ("SUCCESS_URL", b"http://x/", "str"),
        ("WEBHOOK_PROCESSING", 1, "str"),
        ("ALLOWED_REDIRECT_HOSTS", "example.com", "list or tuple or set or frozenset"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key_and_its_source(
    configure: Any, key: str, value: Any, expected_type: str
) -> None:
    configure(**{key: value})
    with pytest.raises(ImproperlyConfigured) as excinfo:
        getattr(billing_settings, key)
    assert str(excinfo.value) == (
        f"FIKO_BILLING[{key!r}] must be {expected_type}, not {value!r} "
        f"(from FIKO_BILLING[{key!r}])."
    )


@pytest.mark.parametrize(
    ("key", "value", "expected_type", "shown"),
    [
        ("STRIPE_SECRET_KEY", None, "str", "NoneType"),
        ("STRIPE_SECRET_KEY", ["sk_live_0123456789abcdef"], "str", "list"),
        ("STRIPE_SECRET_KEY", b"sk_live_0123456789abcdef", "str", "bytes"),
        ("STRIPE_WEBHOOK_SECRET", 42, "str or list or tuple", "int"),
        ("STRIPE_WEBHOOK_SECRET", b"whsec_0123456789abcdef", "str or list or tuple", "bytes"),
    ],
)
def test_a_secret_of_the_wrong_type_is_not_quoted(
    configure: Any, key: str, value: Any, expected_type: str, shown: str
) -> None:
    configure(**{key: value})
    with pytest.raises(ImproperlyConfigured) as excinfo:
        getattr(billing_settings, key)
    assert str(excinfo.value) == (
        f"FIKO_BILLING[{key!r}] must be {expected_type}, not {shown} (from FIKO_BILLING[{key!r}])."
    )
    assert "0123456789abcdef" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("WEBHOOK_TOLERANCE", -1, "1 or more seconds"),
        ("WEBHOOK_TOLERANCE", 0, "1 or more seconds"),
        ("GRACE_PERIOD_DAYS", -1, "0 or more days"),
        ("MAX_QUANTITY", 0, "1 or more"),
        ("WEBHOOK_MAX_FAILURES", 0, "1 or more"),
        ("WEBHOOK_MAX_WAIT_DAYS", 0, "1 or more days"),
        ("WEBHOOK_EVENT_RETENTION_DAYS", 30, "31 or more days"),
        ("RESERVATION_TIMEOUT", 0, "from 1 to 2592000 seconds (30 days)"),
        ("RESERVATION_TIMEOUT", 30 * 86400 + 1, "from 1 to 2592000 seconds (30 days)"),
        ("WEBHOOK_PROCESSING", "celery", "one of 'sync', 'task'"),
        ("WEBHOOK_PROCESSING", "SYNC", "one of 'sync', 'task'"),
        (
            "PRORATION_BEHAVIOR",
            "sometimes",
            "one of 'create_prorations', 'always_invoice', 'none'",
        ),
        ("REFUND_SPENT_TOKENS", "keep", "one of 'debt', 'forgive'"),
        *[
            (key, value, "a finite number of seconds more than zero")
            for key in (
                "STRIPE_TIMEOUT",
                "STRIPE_REQUEST_TIME_BUDGET",
                "STRIPE_COMMAND_TIME_BUDGET",
            )
            for value in (0, -1, 0.0, float("inf"), float("nan"), 10**400)
        ],
        ("STRIPE_MAX_NETWORK_RETRIES", -1, "0 or more"),
        ("CHECKOUT_STATUS_POLL_INTERVAL", -1, "0 or more seconds"),
    ],
)
def test_a_value_out_of_range_names_the_key_the_range_and_the_value(
    configure: Any, key: str, value: Any, expected: str
) -> None:
    configure(**{key: value})
    with pytest.raises(ImproperlyConfigured) as excinfo:
        getattr(billing_settings, key)
    assert str(excinfo.value) == (
        f"FIKO_BILLING[{key!r}] must be {expected}, not {value!r} (from FIKO_BILLING[{key!r}])."
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("WEBHOOK_TOLERANCE", 1, 1),
        ("GRACE_PERIOD_DAYS", 0, 0),
        ("MAX_QUANTITY", 1, 1),
        ("RESERVATION_TIMEOUT", 1, 1),
        ("RESERVATION_TIMEOUT", 30 * 86400, 30 * 86400),
        ("WEBHOOK_PROCESSING", "task", "task"),
        ("PRORATION_BEHAVIOR", "always_invoice", "always_invoice"),
        ("PRORATION_BEHAVIOR", "none", "none"),
        ("STRIPE_TIMEOUT", 5, 5.0),
        ("STRIPE_TIMEOUT", 2.5, 2.5),
        ("STRIPE_MAX_NETWORK_RETRIES", 0, 0),
        ("STRIPE_REQUEST_TIME_BUDGET", 2, 2.0),
        ("STRIPE_REQUEST_TIME_BUDGET", 0.25, 0.25),
        ("STRIPE_COMMAND_TIME_BUDGET", 600, 600.0),
        ("CHECKOUT_STATUS_POLL_INTERVAL", 0, 0),
        ("CHECKOUT_STATUS_POLL_INTERVAL", 10, 10),
        ("STRIPE_API_BASE", "http://127.0.0.1:12111/", "http://127.0.0.1:12111"),
        ("ALLOWED_REDIRECT_HOSTS", ["App.Example.com"], frozenset({"app.example.com"})),
        (
            "ALLOWED_REDIRECT_HOSTS",
            ("a.example", "b.example"),
            frozenset({"a.example", "b.example"}),
        ),
        ("TOKEN_ROLLOVER", True, True),
    ],
)
def test_valid_values_at_the_edges(configure: Any, key: str, value: Any, expected: Any) -> None:
    configure(**{key: value})
    result = getattr(billing_settings, key)
    assert result == expected
    assert type(result) is type(expected)


def test_a_bad_value_does_not_hide_the_other_keys(configure: Any) -> None:
    configure(MAX_QUANTITY=0, CURRENCY="eur")
    assert billing_settings.CURRENCY == "eur"
    with pytest.raises(ImproperlyConfigured):
        billing_settings.MAX_QUANTITY  # noqa: B018


# Reloading


def test_override_settings_takes_effect_at_once_and_is_undone(settings: Any) -> None:
    settings.FIKO_BILLING = {"CURRENCY": "usd", "STRIPE_SECRET_KEY": "sk_test_outer"}
    assert billing_settings.CURRENCY == "usd"
    assert billing_settings.STRIPE_SECRET_KEY == "sk_test_outer"

    with override_settings(FIKO_BILLING={"CURRENCY": "eur"}):
        assert billing_settings.CURRENCY == "eur"
        # The whole dict is replaced, not merged.
        assert billing_settings.STRIPE_SECRET_KEY == ""

    assert billing_settings.CURRENCY == "usd"
    assert billing_settings.STRIPE_SECRET_KEY == "sk_test_outer"


def test_override_settings_as_a_decorator() -> None:
    @override_settings(FIKO_BILLING={"MAX_QUANTITY": 7})
    def inner() -> int:
        return billing_settings.MAX_QUANTITY

    before = billing_settings.MAX_QUANTITY
    assert inner() == 7
    assert billing_settings.MAX_QUANTITY == before == 100


def test_other_settings_do_not_reload(settings: Any) -> None:
    settings.FIKO_BILLING = {"CURRENCY": "eur"}
    first = conf._lazy_settings._setup()
    settings.TIME_ZONE = "Europe/Paris"
    assert conf._lazy_settings._setup() is first


def test_reload_reads_the_environment_again(
    configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure()
    assert billing_settings.STRIPE_SECRET_KEY == ""
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_later")
    reload_billing_settings()
    assert billing_settings.STRIPE_SECRET_KEY == "sk_test_later"


# SUBSCRIBER_RESOLVER


def test_resolver_default_is_the_request_user(configure: Any) -> None:
    configure()
    assert billing_settings.SUBSCRIBER_RESOLVER is resolve_request_user


def test_resolver_dotted_path_is_imported(configure: Any) -> None:
    configure(SUBSCRIBER_RESOLVER="tests.test_conf.custom_resolver")
    assert billing_settings.SUBSCRIBER_RESOLVER is custom_resolver
    assert billing_settings.SUBSCRIBER_RESOLVER(RequestFactory().get("/")) == "the custom resolver"


def test_resolver_may_be_the_callable_itself(configure: Any) -> None:
    configure(SUBSCRIBER_RESOLVER=custom_resolver)
    assert billing_settings.SUBSCRIBER_RESOLVER is custom_resolver


@pytest.mark.parametrize(
    "path", ["tests.test_conf.missing_function", "tests.no_such_module.resolver", "nodots"]
)
def test_resolver_bad_path_names_the_key(configure: Any, path: str) -> None:
    configure(SUBSCRIBER_RESOLVER=path)
    with pytest.raises(ImproperlyConfigured) as excinfo:
        billing_settings.SUBSCRIBER_RESOLVER  # noqa: B018
    assert str(excinfo.value).startswith(
        "FIKO_BILLING['SUBSCRIBER_RESOLVER'] must be a callable or the dotted path of one, "
        f"not {path!r}, which cannot be imported ("
    )
    assert str(excinfo.value).endswith(" (from FIKO_BILLING['SUBSCRIBER_RESOLVER']).")


@pytest.mark.parametrize("value", ["tests.test_conf.NOT_CALLABLE", 42, None])
def test_resolver_must_be_callable(configure: Any, value: Any) -> None:
    configure(SUBSCRIBER_RESOLVER=value)
    with pytest.raises(ImproperlyConfigured) as excinfo:
        billing_settings.SUBSCRIBER_RESOLVER  # noqa: B018
    shown = NOT_CALLABLE if isinstance(value, str) else value
    assert str(excinfo.value) == (
        "FIKO_BILLING['SUBSCRIBER_RESOLVER'] must be a callable or the dotted path "
        f"of one, not {shown!r} (from FIKO_BILLING['SUBSCRIBER_RESOLVER'])."
    )


def test_default_resolver_returns_the_authenticated_user() -> None:
    user = get_user_model()(username="ann")
    request = RequestFactory().get("/")
    request.user = user
    assert resolve_request_user(request) is user


def test_default_resolver_returns_none_for_an_anonymous_user() -> None:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    assert resolve_request_user(request) is None


def test_default_resolver_returns_none_without_authentication_middleware() -> None:
    assert resolve_request_user(RequestFactory().get("/")) is None


# FIKO_BILLING_SUBSCRIBER_MODEL


def test_subscriber_model_defaults_to_the_user_model(settings: Any) -> None:
    del settings.FIKO_BILLING_SUBSCRIBER_MODEL
    assert settings.AUTH_USER_MODEL == "auth.User"
    assert subscriber_model_label() == "auth.User"
    assert get_subscriber_model() is get_user_model()


def test_subscriber_model_empty_means_the_user_model(settings: Any) -> None:
    settings.FIKO_BILLING_SUBSCRIBER_MODEL = ""
    assert subscriber_model_label() == "auth.User"


def test_subscriber_model_setting_is_honoured(settings: Any) -> None:
    settings.FIKO_BILLING_SUBSCRIBER_MODEL = "testapp.Organisation"
    assert subscriber_model_label() == "testapp.Organisation"
    assert get_subscriber_model()._meta.label == "testapp.Organisation"


@pytest.mark.parametrize(
    "label", ["testapp", "testapp.Organisation.name", "testapp_Organisation", 42, ("a", "b")]
)
def test_malformed_subscriber_model(settings: Any, label: Any) -> None:
    settings.FIKO_BILLING_SUBSCRIBER_MODEL = label
    with pytest.raises(ImproperlyConfigured) as excinfo:
        subscriber_model_label()
    assert str(excinfo.value) == (
        f"FIKO_BILLING_SUBSCRIBER_MODEL must be of the form 'app_label.ModelName', not {label!r}."
    )


def test_subscriber_model_that_is_not_installed(settings: Any) -> None:
    settings.FIKO_BILLING_SUBSCRIBER_MODEL = "testapp.Team"
    with pytest.raises(ImproperlyConfigured) as excinfo:
        get_subscriber_model()
    assert str(excinfo.value) == (
        "FIKO_BILLING_SUBSCRIBER_MODEL refers to model 'testapp.Team', which is not installed."
    )


# The table


def test_a_removed_setting_says_what_to_do_instead(
    configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        settings_table.REMOVED_SETTINGS, "OLD_KEY", "set FIKO_BILLING['CURRENCY'] instead."
    )
    configure(OLD_KEY="eur", TYPO=1)
    with pytest.raises(ImproperlyConfigured) as excinfo:
        billing_settings.CURRENCY  # noqa: B018
    assert str(excinfo.value) == (
        "FIKO_BILLING['OLD_KEY'] was removed: set FIKO_BILLING['CURRENCY'] instead."
    )


def test_a_setting_is_one_entry_in_the_table(
    configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = settings_table.Setting(
        "EXTRA_DAYS", (int,), 7, (settings_table.Range(1, unit="days"),), env="FIKO_EXTRA_DAYS"
    )
    monkeypatch.setitem(settings_table.BY_NAME, "EXTRA_DAYS", added)
    configure()
    assert billing_settings.EXTRA_DAYS == 7
    set_env(monkeypatch, "FIKO_EXTRA_DAYS", "9")
    with pytest.raises(ImproperlyConfigured) as excinfo:
        billing_settings.EXTRA_DAYS  # noqa: B018
    assert str(excinfo.value) == (
        "FIKO_BILLING['EXTRA_DAYS'] must be int, not '9' "
        "(from the environment variable FIKO_EXTRA_DAYS)."
    )
    configure(EXTRA_DAYS=0)
    with pytest.raises(ImproperlyConfigured) as excinfo:
        billing_settings.EXTRA_DAYS  # noqa: B018
    assert str(excinfo.value) == (
        "FIKO_BILLING['EXTRA_DAYS'] must be 1 or more days, not 0 "
        "(from FIKO_BILLING['EXTRA_DAYS'])."
    )


def test_the_typed_attributes_are_keys_of_the_table() -> None:
    # Every key is typed for the type checker; an annotation without a key is a typo.
    annotated = set(conf.BillingSettings.__annotations__)
    assert annotated == set(settings_table.BY_NAME)
    assert [setting.name for setting in settings_table.SETTINGS] == list(DEFAULTS)


def test_an_unknown_attribute_is_an_attribute_error(configure: Any) -> None:
    configure()
    with pytest.raises(AttributeError):
        billing_settings.NOT_A_SETTING  # noqa: B018


def test_secrets_are_declared_and_never_in_a_repr(configure: Any) -> None:
    assert {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"} == conf.SECRET_KEYS
    configure(
        STRIPE_SECRET_KEY="sk_live_0123456789abcdef",
        STRIPE_WEBHOOK_SECRET=["whsec_0123456789abcdef"],
        CURRENCY="eur",
    )
    billing_settings.STRIPE_SECRET_KEY  # noqa: B018 - cached values are not shown either
    shown = repr(billing_settings)
    assert shown == (
        "<BillingSettings FIKO_BILLING: {STRIPE_SECRET_KEY=<secret>, "
        "STRIPE_WEBHOOK_SECRET=<secret>, CURRENCY='eur'}>"
    )
    assert "0123456789abcdef" not in repr(settings_table.BY_NAME["STRIPE_SECRET_KEY"])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("STRIPE_SECRET_KEY", ["sk_live_0123456789abcdef"]),
        ("STRIPE_WEBHOOK_SECRET", ["whsec_0123456789abcdef", b"whsec_0123456789abcdef"]),
        ("STRIPE_WEBHOOK_SECRET", {"whsec_0123456789abcdef": 1}),
    ],
)
def test_no_error_of_a_secret_quotes_it(configure: Any, key: str, value: Any) -> None:
    configure(**{key: value})
    with pytest.raises(ImproperlyConfigured) as excinfo:
        getattr(billing_settings, key)
    assert "0123456789abcdef" not in str(excinfo.value)
