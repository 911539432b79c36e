"""System checks: every id, for the exact settings case that raises it, and nothing else."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import stripe
from django.conf import settings as django_settings
from django.core import checks
from django.core.checks import CheckMessage, Error, Tags
from django.core.checks import Warning as CheckWarning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from stripe._api_version import _ApiVersion

from fiko_billing import checks as billing_checks
from fiko_billing.conf import ENV_FALLBACKS, PINNED_API_VERSION, reload_billing_settings
from fiko_billing.money import ISO_4217, SYMBOLS, THREE_DECIMAL, ZERO_DECIMAL

#: Resolves the subscriber of either model (the suite also runs with organisations).
ORGANISATION_RESOLVER = "tests.resolvers.session_subscriber"

# A working test-mode configuration.
CLEAN: dict[str, Any] = {
    "ENABLED": True,
    "TEST_MODE": True,
    "STRIPE_SECRET_KEY": "sk_test_S3CR3T",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_PUBL1C",
    "STRIPE_WEBHOOK_SECRET": "whsec_S1GN",
    "SUBSCRIBER_RESOLVER": ORGANISATION_RESOLVER,
}
#: The same, leaving the resolver at its default (which returns the user).
WITHOUT_RESOLVER = {key: value for key, value in CLEAN.items() if key != "SUBSCRIBER_RESOLVER"}

HTTPS_URLS: dict[str, Any] = {
    "SUCCESS_URL": "https://shop.example/billing/success/?session_id={CHECKOUT_SESSION_ID}",
    "CANCEL_URL": "https://shop.example/billing/",
    "PORTAL_RETURN_URL": "https://shop.example/account/",
}

# A working production configuration.
LIVE: dict[str, Any] = {
    "SUBSCRIBER_RESOLVER": ORGANISATION_RESOLVER,
    "ENABLED": True,
    "TEST_MODE": False,
    "STRIPE_SECRET_KEY": "sk_live_S3CR3T",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_PUBL1C",
    "STRIPE_WEBHOOK_SECRET": "whsec_S1GN",
    **HTTPS_URLS,
}

SECRET_HINT = (
    "to your Stripe secret key (sk_test_… or sk_live_…, Stripe Dashboard → Developers → "
    "API keys), or set {enabled} to False."
)
WEBHOOK_HINT = (
    "to the signing secret (whsec_…) of your webhook endpoint (Stripe Dashboard → "
    "Developers → Webhooks), or set {enabled} to False."
)
WHSEC_HINT = (
    "to the signing secret (whsec_…) of your endpoint, shown in the Stripe Dashboard → "
    "Developers → Webhooks (or printed by `stripe listen`)."
)
RESOLVER_HINT = (
    "Change FIKO_BILLING['{key}'] to a value of the type and range given for "
    "FIKO_BILLING['{key}'] in the settings reference."
)
SUBSCRIBER_HINT = (
    "Set FIKO_BILLING_SUBSCRIBER_MODEL to 'app_label.ModelName' of an installed model, "
    "or remove it to bill the user model."
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No fallback variable of the machine running the suite leaks into these tests."""
    for env_name in ENV_FALLBACKS.values():
        monkeypatch.delenv(env_name, raising=False)
    reload_billing_settings()
    yield
    reload_billing_settings()


def set_env(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    reload_billing_settings()


def run_checks(config: Any, *, default_resolver: bool = False) -> list[CheckMessage]:
    """The messages of the checks tagged ``fiko_billing`` for ``FIKO_BILLING = config``.

    The suite also runs with an organisation as the subscriber, which needs a
    resolver of its own (E012): one is added unless ``default_resolver``.

    Django keeps registered checks in a set, so the order of the two check
    functions is not fixed; ordering by id makes the list comparable. Messages
    of one id come from one function, in the order it produced them.
    """
    if isinstance(config, dict) and not default_resolver:
        config = {"SUBSCRIBER_RESOLVER": ORGANISATION_RESOLVER, **config}
    with override_settings(FIKO_BILLING=config):
        return sorted(checks.run_checks(tags=[billing_checks.TAG]), key=lambda m: str(m.id))


# ------------------------------------------------------------------ clean


@pytest.mark.parametrize(
    "config",
    [
        CLEAN,
        LIVE,
        {**CLEAN, "CURRENCY": "EUR"},
        {**CLEAN, "CURRENCY": "jpy", "STRIPE_SECRET_KEY": "rk_test_R3STR1CT"},
        {**LIVE, "STRIPE_SECRET_KEY": "rk_live_R3STR1CT", "STRIPE_PUBLISHABLE_KEY": ""},
        {**CLEAN, "STRIPE_WEBHOOK_SECRET": ["whsec_new", "whsec_old"]},
        {**CLEAN, "STRIPE_API_VERSION": PINNED_API_VERSION},
    ],
    ids=[
        "test-mode",
        "live",
        "upper-case-currency",
        "restricted-key",
        "live-rk",
        "rotation",
        "explicit-api-version",
    ],
)
def test_a_clean_configuration_has_no_messages(config: dict[str, Any]) -> None:
    assert run_checks(config) == []


def test_the_suite_settings_are_clean() -> None:
    assert sorted(checks.run_checks(tags=[billing_checks.TAG]), key=lambda m: str(m.id)) == []


def test_the_defaults_match_the_installed_sdk() -> None:
    # The release pins the API version of the SDK it depends on.
    assert _ApiVersion.CURRENT == PINNED_API_VERSION


# ------------------------------------------------------------------ E001, E002


def test_e001_enabled_without_a_secret_key() -> None:
    assert run_checks({**CLEAN, "STRIPE_SECRET_KEY": ""}) == [
        Error(
            "Stripe is enabled (FIKO_BILLING['ENABLED'] is True) but "
            "FIKO_BILLING['STRIPE_SECRET_KEY'] is empty, so no request to Stripe can be made.",
            hint="Set FIKO_BILLING['STRIPE_SECRET_KEY'] "
            + SECRET_HINT.format(enabled="FIKO_BILLING['ENABLED']"),
            id="fiko_billing.E001",
        )
    ]


def test_e001_a_blank_secret_key_is_empty() -> None:
    assert [m.id for m in run_checks({**CLEAN, "STRIPE_SECRET_KEY": "   "})] == [
        "fiko_billing.E001"
    ]


def test_e001_when_the_key_is_set_nowhere_the_hint_names_both_places() -> None:
    config = {key: value for key, value in CLEAN.items() if key != "STRIPE_SECRET_KEY"}
    assert run_checks(config) == [
        Error(
            "Stripe is enabled (FIKO_BILLING['ENABLED'] is True) but neither "
            "FIKO_BILLING['STRIPE_SECRET_KEY'] nor the environment variable STRIPE_SECRET_KEY "
            "is set, so no request to Stripe can be made.",
            hint="Set FIKO_BILLING['STRIPE_SECRET_KEY'] or the environment variable "
            "STRIPE_SECRET_KEY " + SECRET_HINT.format(enabled="FIKO_BILLING['ENABLED']"),
            id="fiko_billing.E001",
        )
    ]


def test_e001_names_the_environment_variables_it_read(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "STRIPE_SECRET_KEY", "")
    set_env(monkeypatch, "STRIPE_ENABLED", "yes")
    config = {
        key: value for key, value in CLEAN.items() if key not in {"STRIPE_SECRET_KEY", "ENABLED"}
    }
    assert run_checks(config) == [
        Error(
            "Stripe is enabled (the environment variable STRIPE_ENABLED is True) but "
            "the environment variable STRIPE_SECRET_KEY is empty, so no request to Stripe "
            "can be made.",
            hint="Set the environment variable STRIPE_SECRET_KEY "
            + SECRET_HINT.format(enabled="the environment variable STRIPE_ENABLED"),
            id="fiko_billing.E001",
        )
    ]


@pytest.mark.parametrize("secret", ["", (), [], ["", ""]])
def test_e002_enabled_without_a_webhook_secret(secret: Any) -> None:
    assert run_checks({**CLEAN, "STRIPE_WEBHOOK_SECRET": secret}) == [
        Error(
            "Stripe is enabled (FIKO_BILLING['ENABLED'] is True) but "
            "FIKO_BILLING['STRIPE_WEBHOOK_SECRET'] is empty, so every webhook Stripe sends "
            "is rejected.",
            hint="Set FIKO_BILLING['STRIPE_WEBHOOK_SECRET'] "
            + WEBHOOK_HINT.format(enabled="FIKO_BILLING['ENABLED']"),
            id="fiko_billing.E002",
        )
    ]


def test_e002_from_an_empty_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "STRIPE_WEBHOOK_SECRET", " , ")
    config = {key: value for key, value in CLEAN.items() if key != "STRIPE_WEBHOOK_SECRET"}
    assert run_checks(config) == [
        Error(
            "Stripe is enabled (FIKO_BILLING['ENABLED'] is True) but the environment variable "
            "STRIPE_WEBHOOK_SECRET is empty, so every webhook Stripe sends is rejected.",
            hint="Set the environment variable STRIPE_WEBHOOK_SECRET "
            + WEBHOOK_HINT.format(enabled="FIKO_BILLING['ENABLED']"),
            id="fiko_billing.E002",
        )
    ]


def test_e001_and_e002_together_on_a_fresh_install() -> None:
    assert [m.id for m in run_checks({})] == ["fiko_billing.E001", "fiko_billing.E002"]


def test_e001_and_e002_without_any_fiko_billing_name_what_is_really_unset(
    settings: Any,
) -> None:
    del settings.FIKO_BILLING
    reload_billing_settings()
    enabled = (
        "Stripe is enabled (by default: neither FIKO_BILLING['ENABLED'] nor the environment "
        "variable STRIPE_ENABLED is set) but "
    )
    switch_off = "FIKO_BILLING['ENABLED'] or the environment variable STRIPE_ENABLED"
    messages = sorted(checks.run_checks(tags=[billing_checks.TAG]), key=lambda m: str(m.id))
    assert messages[:2] == [
        Error(
            enabled + "neither FIKO_BILLING['STRIPE_SECRET_KEY'] nor the environment variable "
            "STRIPE_SECRET_KEY is set, so no request to Stripe can be made.",
            hint="Set FIKO_BILLING['STRIPE_SECRET_KEY'] or the environment variable "
            "STRIPE_SECRET_KEY " + SECRET_HINT.format(enabled=switch_off),
            id="fiko_billing.E001",
        ),
        Error(
            enabled + "neither FIKO_BILLING['STRIPE_WEBHOOK_SECRET'] nor the environment "
            "variable STRIPE_WEBHOOK_SECRET is set, so every webhook Stripe sends is rejected.",
            hint="Set FIKO_BILLING['STRIPE_WEBHOOK_SECRET'] or the environment variable "
            "STRIPE_WEBHOOK_SECRET " + WEBHOOK_HINT.format(enabled=switch_off),
            id="fiko_billing.E002",
        ),
    ]


# ------------------------------------------------------------------ ENABLED off


@pytest.mark.parametrize(
    "config",
    [
        {"ENABLED": False},
        {"ENABLED": False, "STRIPE_SECRET_KEY": "sk_live_S3CR3T", "TEST_MODE": True},
        {**LIVE, "ENABLED": False, "STRIPE_SECRET_KEY": "sk_test_S3CR3T"},
        {**CLEAN, "ENABLED": False, "STRIPE_PUBLISHABLE_KEY": "pk_live_PUBL1C"},
    ],
    ids=["nothing-set", "live-key-in-test-mode", "test-key-in-live-mode", "live-pk-test-mode"],
)
def test_disabled_billing_skips_the_key_checks(config: dict[str, Any]) -> None:
    assert run_checks(config) == []


def test_disabled_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "STRIPE_ENABLED", "off")
    assert run_checks({}) == []


def test_disabled_billing_still_rejects_misplaced_keys_and_secrets() -> None:
    config = {
        "ENABLED": False,
        "STRIPE_SECRET_KEY": "pk_test_PUBL1C",
        "STRIPE_PUBLISHABLE_KEY": "sk_test_S3CR3T",
        "STRIPE_WEBHOOK_SECRET": "S1GN",
    }
    assert [m.id for m in run_checks(config)] == [
        "fiko_billing.E005",
        "fiko_billing.E006",
        "fiko_billing.E009",
    ]


# ------------------------------------------------------------------ E003, E004


def capital(text: str) -> str:
    return text[0].upper() + text[1:]


def e003(setting: str, prefix: str, test_prefix: str, mode: str, mode_to_set: str) -> Error:
    return Error(
        f"{capital(setting)} holds a live-mode key ({prefix}…) but {mode} is True.",
        hint=f"Put a test-mode key ({test_prefix}…) in {setting}, "
        f"or, on a production deployment, set {mode_to_set} to False.",
        id="fiko_billing.E003",
    )


def e004(setting: str, prefix: str, live_prefix: str, mode: str) -> Error:
    return Error(
        f"{capital(setting)} holds a test-mode key ({prefix}…) but {mode} is False.",
        hint=f"Put the live-mode key ({live_prefix}…) in {setting}, "
        f"or set {mode} to True if this deployment must not take real payments.",
        id="fiko_billing.E004",
    )


def test_e003_live_secret_key_in_test_mode() -> None:
    assert run_checks({**CLEAN, "STRIPE_SECRET_KEY": "sk_live_S3CR3T"}) == [
        e003(
            "FIKO_BILLING['STRIPE_SECRET_KEY']",
            "sk_live_",
            "sk_test_",
            "FIKO_BILLING['TEST_MODE']",
            "FIKO_BILLING['TEST_MODE']",
        )
    ]


def test_e003_live_restricted_and_publishable_keys_when_test_mode_is_the_default() -> None:
    config = {
        **{key: value for key, value in CLEAN.items() if key != "TEST_MODE"},
        "STRIPE_SECRET_KEY": "rk_live_R3STR1CT",
        "STRIPE_PUBLISHABLE_KEY": "pk_live_PUBL1C",
    }
    mode_to_set = "FIKO_BILLING['TEST_MODE'] or the environment variable STRIPE_TEST_MODE"
    assert run_checks(config) == [
        e003(
            "FIKO_BILLING['STRIPE_SECRET_KEY']",
            "rk_live_",
            "rk_test_",
            "FIKO_BILLING['TEST_MODE']",
            mode_to_set,
        ),
        e003(
            "FIKO_BILLING['STRIPE_PUBLISHABLE_KEY']",
            "pk_live_",
            "pk_test_",
            "FIKO_BILLING['TEST_MODE']",
            mode_to_set,
        ),
    ]


def test_e003_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "STRIPE_SECRET_KEY", "sk_live_S3CR3T")
    set_env(monkeypatch, "STRIPE_TEST_MODE", "1")
    config = {
        key: value for key, value in CLEAN.items() if key not in {"STRIPE_SECRET_KEY", "TEST_MODE"}
    }
    assert run_checks(config) == [
        e003(
            "the environment variable STRIPE_SECRET_KEY",
            "sk_live_",
            "sk_test_",
            "the environment variable STRIPE_TEST_MODE",
            "the environment variable STRIPE_TEST_MODE",
        )
    ]


def test_e004_test_keys_in_live_mode() -> None:
    config = {
        **LIVE,
        "STRIPE_SECRET_KEY": "sk_test_S3CR3T",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_PUBL1C",
    }
    assert run_checks(config) == [
        e004(
            "FIKO_BILLING['STRIPE_SECRET_KEY']",
            "sk_test_",
            "sk_live_",
            "FIKO_BILLING['TEST_MODE']",
        ),
        e004(
            "FIKO_BILLING['STRIPE_PUBLISHABLE_KEY']",
            "pk_test_",
            "pk_live_",
            "FIKO_BILLING['TEST_MODE']",
        ),
    ]


def test_e004_restricted_test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "STRIPE_TEST_MODE", "false")
    set_env(monkeypatch, "STRIPE_SECRET_KEY", "rk_test_R3STR1CT")
    config = {
        key: value for key, value in LIVE.items() if key not in {"STRIPE_SECRET_KEY", "TEST_MODE"}
    }
    assert run_checks(config) == [
        e004(
            "the environment variable STRIPE_SECRET_KEY",
            "rk_test_",
            "rk_live_",
            "the environment variable STRIPE_TEST_MODE",
        )
    ]


# ------------------------------------------------------------------ E005, E006


def e005(prefix: str) -> Error:
    return Error(
        f"FIKO_BILLING['STRIPE_SECRET_KEY'] holds a publishable key ({prefix}…), "
        "not a secret key.",
        hint="Put the secret key (sk_…, or a restricted key rk_…) in "
        "FIKO_BILLING['STRIPE_SECRET_KEY']; the publishable key belongs in "
        "FIKO_BILLING['STRIPE_PUBLISHABLE_KEY'].",
        id="fiko_billing.E005",
    )


def e006(prefix: str, where: str = "FIKO_BILLING['STRIPE_PUBLISHABLE_KEY']") -> Error:
    return Error(
        f"{capital(where)} holds a secret key ({prefix}…); the publishable key "
        "is the one a browser may see, a secret key must never reach one.",
        hint=f"Put the publishable key (pk_…) in {where}; the secret key belongs in "
        "FIKO_BILLING['STRIPE_SECRET_KEY']. If this key was ever sent to a browser, roll it "
        "in the Stripe Dashboard.",
        id="fiko_billing.E006",
    )


@pytest.mark.parametrize(
    ("config", "prefix"),
    [
        ({**CLEAN, "STRIPE_SECRET_KEY": "pk_test_PUBL1C"}, "pk_test_"),
        # Reported once, as misplaced, not also as a live key in test mode.
        ({**CLEAN, "STRIPE_SECRET_KEY": "pk_live_PUBL1C"}, "pk_live_"),
        ({**LIVE, "STRIPE_SECRET_KEY": "pk_test_PUBL1C"}, "pk_test_"),
        ({**CLEAN, "STRIPE_SECRET_KEY": "pk_PUBL1C"}, "pk_"),
    ],
)
def test_e005_publishable_key_as_the_secret_key(config: dict[str, Any], prefix: str) -> None:
    assert run_checks(config) == [e005(prefix)]


@pytest.mark.parametrize(
    ("config", "prefix"),
    [
        ({**CLEAN, "STRIPE_PUBLISHABLE_KEY": "sk_test_S3CR3T"}, "sk_test_"),
        ({**CLEAN, "STRIPE_PUBLISHABLE_KEY": "sk_live_S3CR3T"}, "sk_live_"),
        ({**LIVE, "STRIPE_PUBLISHABLE_KEY": "rk_test_R3STR1CT"}, "rk_test_"),
        ({**LIVE, "STRIPE_PUBLISHABLE_KEY": "rk_live_R3STR1CT"}, "rk_live_"),
        ({**CLEAN, "STRIPE_PUBLISHABLE_KEY": "sk_S3CR3T"}, "sk_"),
    ],
)
def test_e006_secret_key_as_the_publishable_key(config: dict[str, Any], prefix: str) -> None:
    assert run_checks(config) == [e006(prefix)]


def test_e006_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "STRIPE_PUBLISHABLE_KEY", "sk_test_S3CR3T")
    config = {key: value for key, value in CLEAN.items() if key != "STRIPE_PUBLISHABLE_KEY"}
    assert run_checks(config) == [
        e006("sk_test_", "the environment variable STRIPE_PUBLISHABLE_KEY")
    ]


def test_swapped_keys_are_reported_in_both_places() -> None:
    config = {
        **CLEAN,
        "STRIPE_SECRET_KEY": "pk_test_PUBL1C",
        "STRIPE_PUBLISHABLE_KEY": "sk_test_S3CR3T",
    }
    assert run_checks(config) == [e005("pk_test_"), e006("sk_test_")]


# ------------------------------------------------------------------ E007


@pytest.mark.parametrize("currency", ["usdx", "xyz", "us", "", "dollar"])
def test_e007_currency_is_not_iso_4217(currency: str) -> None:
    assert run_checks({**CLEAN, "CURRENCY": currency}) == [
        Error(
            f"FIKO_BILLING['CURRENCY'] is {currency!r}, which is not an ISO 4217 currency "
            "code that Stripe supports.",
            hint="Set FIKO_BILLING['CURRENCY'] to a three-letter currency code such as "
            "'usd', 'eur' or 'jpy'.",
            id="fiko_billing.E007",
        )
    ]


def test_e007_currency_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "STRIPE_CURRENCY", " EURO ")
    assert run_checks(CLEAN) == [
        Error(
            "The environment variable STRIPE_CURRENCY is 'euro', which is not an ISO 4217 "
            "currency code that Stripe supports.",
            hint="Set the environment variable STRIPE_CURRENCY to a three-letter currency code "
            "such as 'usd', 'eur' or 'jpy'.",
            id="fiko_billing.E007",
        )
    ]


def test_a_valid_currency_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "STRIPE_CURRENCY", " GBP ")
    assert run_checks(CLEAN) == []


def test_iso_4217_holds_lower_case_codes_including_every_special_currency() -> None:
    assert all(re.fullmatch("[a-z]{3}", code) for code in ISO_4217)
    assert ZERO_DECIMAL | THREE_DECIMAL | set(SYMBOLS) <= ISO_4217
    assert {"usd", "eur", "gbp", "jpy", "chf", "cad", "aud"} <= ISO_4217
    assert "xxx" not in ISO_4217


# ------------------------------------------------------------------ E008


def e008(key: str, url: str, default: bool, page: str) -> Error:
    suffix = " (the default)" if default else ""
    return Error(
        f"FIKO_BILLING[{key!r}] is {url!r}{suffix}, not an https URL, but "
        "FIKO_BILLING['TEST_MODE'] is False.",
        hint=f"Set FIKO_BILLING[{key!r}] to the https URL of {page}.",
        id="fiko_billing.E008",
    )


SUCCESS_PAGE = (
    "the page Stripe Checkout returns to after a payment "
    "(keep {CHECKOUT_SESSION_ID} in its query string)"
)
CANCEL_PAGE = "the page Stripe Checkout returns to when the customer cancels"
PORTAL_PAGE = "the page the Stripe Customer Portal returns to"


def test_e008_default_urls_in_live_mode() -> None:
    config = {key: value for key, value in LIVE.items() if key not in HTTPS_URLS}
    assert run_checks(config) == [
        e008(
            "SUCCESS_URL",
            "http://localhost:8000/billing/return/checkout-success/?session_id={CHECKOUT_SESSION_ID}",
            True,
            SUCCESS_PAGE,
        ),
        e008(
            "CANCEL_URL",
            "http://localhost:8000/billing/return/checkout-canceled/",
            True,
            CANCEL_PAGE,
        ),
        e008(
            "PORTAL_RETURN_URL", "http://localhost:8000/billing/return/portal/", True, PORTAL_PAGE
        ),
    ]


@pytest.mark.parametrize(
    ("key", "url", "page"),
    [
        ("SUCCESS_URL", "http://shop.example/done/", SUCCESS_PAGE),
        ("CANCEL_URL", "shop.example/billing/", CANCEL_PAGE),
        ("PORTAL_RETURN_URL", "/account/", PORTAL_PAGE),
        ("PORTAL_RETURN_URL", "", PORTAL_PAGE),
        ("SUCCESS_URL", "http://[::1/broken", SUCCESS_PAGE),
    ],
)
def test_e008_one_error_per_url_that_is_not_https(key: str, url: str, page: str) -> None:
    assert run_checks({**LIVE, key: url}) == [e008(key, url, False, page)]


def test_e008_accepts_an_upper_case_scheme() -> None:
    assert run_checks({**LIVE, "CANCEL_URL": "HTTPS://shop.example/billing/"}) == []


def test_e008_http_urls_are_fine_in_test_mode() -> None:
    assert run_checks({**CLEAN, "SUCCESS_URL": "http://localhost:8000/done/"}) == []


def test_e008_applies_while_billing_is_disabled() -> None:
    config = {"ENABLED": False, "TEST_MODE": False, **HTTPS_URLS, "CANCEL_URL": "http://x/"}
    assert run_checks(config) == [e008("CANCEL_URL", "http://x/", False, CANCEL_PAGE)]


# ------------------------------------------------------------------ E009


def e009(name: str, looks_like: str = "") -> Error:
    return Error(
        f"{capital(name)} is not a webhook signing secret{looks_like}: signing "
        "secrets start with whsec_.",
        hint=f"Set {name} " + WHSEC_HINT,
        id="fiko_billing.E009",
    )


@pytest.mark.parametrize("secret", ["S1GN", "whsecS1GN", "wh_S1GN", "WHSEC_S1GN"])
def test_e009_a_secret_without_the_whsec_prefix(secret: str) -> None:
    assert run_checks({**CLEAN, "STRIPE_WEBHOOK_SECRET": secret}) == [
        e009("FIKO_BILLING['STRIPE_WEBHOOK_SECRET']")
    ]


def test_e009_an_api_key_given_as_the_webhook_secret() -> None:
    assert run_checks({**CLEAN, "STRIPE_WEBHOOK_SECRET": "sk_test_S3CR3T"}) == [
        e009(
            "FIKO_BILLING['STRIPE_WEBHOOK_SECRET']",
            " (it starts like an API key, sk_test_…)",
        )
    ]


def test_e009_names_the_item_of_a_list() -> None:
    config = {**CLEAN, "STRIPE_WEBHOOK_SECRET": ["whsec_new", "", "S1GN", "whsec_old"]}
    assert run_checks(config) == [e009("FIKO_BILLING['STRIPE_WEBHOOK_SECRET'][2]")]


def test_e009_names_the_item_of_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_env(monkeypatch, "STRIPE_WEBHOOK_SECRET", "whsec_new, pk_live_PUBL1C")
    config = {key: value for key, value in CLEAN.items() if key != "STRIPE_WEBHOOK_SECRET"}
    assert run_checks(config) == [
        e009(
            "item 2 of the environment variable STRIPE_WEBHOOK_SECRET (a comma-separated list)",
            " (it starts like an API key, pk_live_…)",
        )
    ]


# ------------------------------------------------------------------ E010


def e010(message: str, key: str) -> Error:
    return Error(message, hint=RESOLVER_HINT.format(key=key), id="fiko_billing.E010")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "MAX_QUANTITY",
            True,
            "FIKO_BILLING['MAX_QUANTITY'] must be int, not True "
            "(from FIKO_BILLING['MAX_QUANTITY']).",
        ),
        (
            "STRIPE_TIMEOUT",
            "30",
            "FIKO_BILLING['STRIPE_TIMEOUT'] must be int or float, not '30' "
            "(from FIKO_BILLING['STRIPE_TIMEOUT']).",
        ),
        (
            "WEBHOOK_PROCESSING",
            "celery",
            "FIKO_BILLING['WEBHOOK_PROCESSING'] must be one of 'sync', 'task', not 'celery' "
            "(from FIKO_BILLING['WEBHOOK_PROCESSING']).",
        ),
        (
            "SUBSCRIBER_RESOLVER",
            "tests.nowhere.resolve",
            "FIKO_BILLING['SUBSCRIBER_RESOLVER'] must be a callable or the dotted path of one, "
            "not 'tests.nowhere.resolve', which cannot be imported (No module named "
            "'tests.nowhere') (from FIKO_BILLING['SUBSCRIBER_RESOLVER']).",
        ),
        (
            "GRACE_PERIOD_DAYS",
            -1,
            "FIKO_BILLING['GRACE_PERIOD_DAYS'] must be 0 or more days, not -1 "
            "(from FIKO_BILLING['GRACE_PERIOD_DAYS']).",
        ),
        (
            "STRIPE_REQUEST_TIME_BUDGET",
            0,
            "FIKO_BILLING['STRIPE_REQUEST_TIME_BUDGET'] must be a finite number of seconds "
            "more than zero, not 0 (from FIKO_BILLING['STRIPE_REQUEST_TIME_BUDGET']).",
        ),
        (
            "STRIPE_COMMAND_TIME_BUDGET",
            "1m",
            "FIKO_BILLING['STRIPE_COMMAND_TIME_BUDGET'] must be int or float, not '1m' "
            "(from FIKO_BILLING['STRIPE_COMMAND_TIME_BUDGET']).",
        ),
        (
            "STRIPE_TIMEOUT",
            -5,
            "FIKO_BILLING['STRIPE_TIMEOUT'] must be a finite number of seconds more than zero, "
            "not -5 (from FIKO_BILLING['STRIPE_TIMEOUT']).",
        ),
        (
            "CHECKOUT_STATUS_POLL_INTERVAL",
            -3,
            "FIKO_BILLING['CHECKOUT_STATUS_POLL_INTERVAL'] must be 0 or more seconds, not -3 "
            "(from FIKO_BILLING['CHECKOUT_STATUS_POLL_INTERVAL']).",
        ),
    ],
)
def test_e010_an_invalid_value_is_an_error_not_a_crash(key: str, value: Any, message: str) -> None:
    assert run_checks({**CLEAN, key: value}) == [e010(message, key)]


def test_e010_one_error_per_invalid_value_and_the_rest_still_checked() -> None:
    config = {**CLEAN, "TEST_MODE": "no", "MAX_QUANTITY": 0, "CURRENCY": "zzz"}
    messages = run_checks(config)
    assert [m.id for m in messages] == [
        "fiko_billing.E007",
        "fiko_billing.E010",
        "fiko_billing.E010",
    ]
    assert messages[1:] == [
        e010(
            "FIKO_BILLING['TEST_MODE'] must be bool, not 'no' (from FIKO_BILLING['TEST_MODE']).",
            "TEST_MODE",
        ),
        e010(
            "FIKO_BILLING['MAX_QUANTITY'] must be 1 or more, not 0 "
            "(from FIKO_BILLING['MAX_QUANTITY']).",
            "MAX_QUANTITY",
        ),
    ]


def test_e010_an_invalid_test_mode_skips_the_checks_that_depend_on_it() -> None:
    config = {**LIVE, "TEST_MODE": 0, "SUCCESS_URL": "http://x/"}
    assert [m.id for m in run_checks(config)] == ["fiko_billing.E010"]


def test_e010_an_invalid_enabled_skips_the_key_checks() -> None:
    assert run_checks({"ENABLED": "yes"}) == [
        e010(
            "FIKO_BILLING['ENABLED'] must be bool, not 'yes' (from FIKO_BILLING['ENABLED']).",
            "ENABLED",
        )
    ]


def test_e010_an_unreadable_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, "STRIPE_ENABLED", "maybe")
    config = {key: value for key, value in CLEAN.items() if key != "ENABLED"}
    assert run_checks(config) == [
        Error(
            "The environment variable STRIPE_ENABLED must be true or false (1/0, yes/no, "
            "on/off), not 'maybe'.",
            hint="Change the environment variable STRIPE_ENABLED to a value of the type and "
            "range given for FIKO_BILLING['ENABLED'] in the settings reference.",
            id="fiko_billing.E010",
        )
    ]


def test_e010_an_unknown_key() -> None:
    messages = run_checks({**CLEAN, "CURENCY": "eur"})
    assert len(messages) == 1
    assert messages[0] == Error(
        "Unknown setting FIKO_BILLING['CURENCY']. Known keys: ALLOWED_REDIRECT_HOSTS, "
        "ALLOW_MULTIPLE_SUBSCRIPTIONS, ALLOW_PROMOTION_CODES, CANCEL_URL, "
        "CHECKOUT_STATUS_POLL_INTERVAL, CURRENCY, ENABLED, "
        "GRACE_PERIOD_DAYS, MAX_QUANTITY, PORTAL_RETURN_URL, PRORATION_BEHAVIOR, "
        "REFUND_SPENT_TOKENS, RESERVATION_TIMEOUT, STRIPE_API_BASE, STRIPE_API_VERSION, "
        "STRIPE_COMMAND_TIME_BUDGET, STRIPE_MAX_NETWORK_RETRIES, STRIPE_PUBLISHABLE_KEY, "
        "STRIPE_REQUEST_TIME_BUDGET, STRIPE_SECRET_KEY, STRIPE_TIMEOUT, "
        "STRIPE_WEBHOOK_SECRET, SUBSCRIBER_RESOLVER, SUCCESS_URL, TEST_MODE, "
        "TOKEN_ROLLOVER, WEBHOOK_EVENT_RETENTION_DAYS, WEBHOOK_MAX_FAILURES, "
        "WEBHOOK_MAX_WAIT_DAYS, WEBHOOK_PROCESSING, WEBHOOK_TOLERANCE.",
        hint="Remove the unknown key from FIKO_BILLING or correct its spelling to one of the "
        "known keys listed above.",
        id="fiko_billing.E010",
    )


def test_e010_fiko_billing_is_not_a_dict() -> None:
    assert run_checks(["STRIPE_SECRET_KEY", "sk_test_S3CR3T"]) == [
        Error(
            "FIKO_BILLING must be a dict, not list.",
            hint="Set FIKO_BILLING to a dict, for example {'CURRENCY': 'usd'}.",
            id="fiko_billing.E010",
        )
    ]


def test_e010_a_secret_of_the_wrong_type_is_not_echoed() -> None:
    config = {**CLEAN, "STRIPE_SECRET_KEY": b"sk_live_S3CR3T", "STRIPE_WEBHOOK_SECRET": 42}
    assert run_checks(config) == [
        e010(
            "FIKO_BILLING['STRIPE_SECRET_KEY'] must be str, not bytes "
            "(from FIKO_BILLING['STRIPE_SECRET_KEY']).",
            "STRIPE_SECRET_KEY",
        ),
        e010(
            "FIKO_BILLING['STRIPE_WEBHOOK_SECRET'] must be str or list or tuple, not int "
            "(from FIKO_BILLING['STRIPE_WEBHOOK_SECRET']).",
            "STRIPE_WEBHOOK_SECRET",
        ),
    ]


def test_e010_a_list_of_secrets_with_a_wrong_item() -> None:
    config = {**CLEAN, "STRIPE_WEBHOOK_SECRET": ["whsec_S1GN", b"whsec_OLD"]}
    assert run_checks(config) == [
        e010(
            "FIKO_BILLING['STRIPE_WEBHOOK_SECRET'] must be a string or a list of strings, "
            "not a list with items of type bytes, str "
            "(from FIKO_BILLING['STRIPE_WEBHOOK_SECRET']).",
            "STRIPE_WEBHOOK_SECRET",
        )
    ]


# ------------------------------------------------------------------ E011


def test_e011_the_subscriber_model_is_not_installed() -> None:
    with override_settings(FIKO_BILLING_SUBSCRIBER_MODEL="testapp.Team"):
        assert run_checks(CLEAN) == [
            Error(
                "FIKO_BILLING_SUBSCRIBER_MODEL refers to model 'testapp.Team', which is not "
                "installed.",
                hint=SUBSCRIBER_HINT,
                id="fiko_billing.E011",
            )
        ]


def test_e011_the_subscriber_model_label_is_malformed() -> None:
    with override_settings(FIKO_BILLING_SUBSCRIBER_MODEL="Organisation"):
        assert run_checks(CLEAN) == [
            Error(
                "FIKO_BILLING_SUBSCRIBER_MODEL must be of the form 'app_label.ModelName', "
                "not 'Organisation'.",
                hint=SUBSCRIBER_HINT,
                id="fiko_billing.E011",
            )
        ]


def test_e011_an_installed_subscriber_model_is_fine() -> None:
    with override_settings(FIKO_BILLING_SUBSCRIBER_MODEL="testapp.Organisation"):
        assert run_checks(CLEAN) == []


def test_e011_is_reported_even_when_fiko_billing_is_unreadable() -> None:
    with override_settings(FIKO_BILLING_SUBSCRIBER_MODEL="nowhere.Team"):
        assert [m.id for m in run_checks({"NOPE": 1})] == [
            "fiko_billing.E010",
            "fiko_billing.E011",
        ]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("testapp.Team", "refers to model 'testapp.Team', which is not installed."),
        ("Organisation", "must be of the form 'app_label.ModelName', not 'Organisation'."),
        (
            "testapp.Organisation.name",
            "must be of the form 'app_label.ModelName', not 'testapp.Organisation.name'.",
        ),
    ],
)
def test_e011_comes_out_of_manage_py_check_not_a_traceback(label: str, message: str) -> None:
    """In a fresh process, where the models and the admin read the setting as they load."""
    assert "django.contrib.admin" in django_settings.INSTALLED_APPS
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings_subscriber_model",
            "FIKO_TEST_SUBSCRIBER_MODEL": label,
        },
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert f"?: (fiko_billing.E011) FIKO_BILLING_SUBSCRIBER_MODEL {message}" in result.stderr


# ------------------------------------------------------------------ E012

E012_HINT = (
    "Set FIKO_BILLING['SUBSCRIBER_RESOLVER'] to the dotted path of a function that returns "
    "the testapp.Organisation a request is for (for example the organisation of "
    "request.user), or None when there is none; see 'Who is paying' in the checkout "
    "documentation."
)


def test_e012_a_subscriber_model_other_than_the_user_with_the_default_resolver() -> None:
    with override_settings(FIKO_BILLING_SUBSCRIBER_MODEL="testapp.Organisation"):
        assert run_checks(WITHOUT_RESOLVER, default_resolver=True) == [
            Error(
                "FIKO_BILLING_SUBSCRIBER_MODEL is 'testapp.Organisation', but "
                "FIKO_BILLING['SUBSCRIBER_RESOLVER'] (the default) returns the logged-in user, "
                "not a testapp.Organisation: no API request could be billed to anyone.",
                hint=E012_HINT,
                id="fiko_billing.E012",
            )
        ]


def test_e012_naming_the_default_resolver_explicitly_is_the_same_mistake() -> None:
    config = {**CLEAN, "SUBSCRIBER_RESOLVER": "fiko_billing.subscribers.resolve_request_user"}
    with override_settings(FIKO_BILLING_SUBSCRIBER_MODEL="testapp.Organisation"):
        messages = run_checks(config, default_resolver=True)
    assert [m.id for m in messages] == ["fiko_billing.E012"]
    assert "FIKO_BILLING['SUBSCRIBER_RESOLVER'] returns the logged-in user" in messages[0].msg


def test_e012_the_user_model_needs_no_resolver() -> None:
    with override_settings(FIKO_BILLING_SUBSCRIBER_MODEL="auth.User"):
        assert run_checks(WITHOUT_RESOLVER, default_resolver=True) == []


def test_e012_is_not_raised_over_e011() -> None:
    with override_settings(FIKO_BILLING_SUBSCRIBER_MODEL="testapp.Team"):
        assert [m.id for m in run_checks(WITHOUT_RESOLVER, default_resolver=True)] == [
            "fiko_billing.E011"
        ]


# ------------------------------------------------------------------ W001


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Pretend another stripe SDK release is installed."""

    def install(version: str, api_version: str) -> None:
        monkeypatch.setattr(stripe, "VERSION", version)
        monkeypatch.setattr(_ApiVersion, "CURRENT", api_version)

    return install


def test_w001_configured_api_version_differs_from_the_sdk(sdk: Any) -> None:
    sdk("16.1.0", PINNED_API_VERSION)
    assert run_checks({**CLEAN, "STRIPE_API_VERSION": "2026-09-30.endive"}) == [
        CheckWarning(
            "FIKO_BILLING['STRIPE_API_VERSION'] is '2026-09-30.endive', but the installed "
            f"stripe SDK 16.1.0 pins API version {PINNED_API_VERSION!r}: Stripe's objects may "
            "arrive in shapes that neither the SDK nor fiko-billing expects.",
            hint=f"Set FIKO_BILLING['STRIPE_API_VERSION'] to {PINNED_API_VERSION!r}, or remove "
            "it from FIKO_BILLING to use that default.",
            id="fiko_billing.W001",
        )
    ]


def test_w001_an_sdk_that_pins_another_version_than_this_release(sdk: Any) -> None:
    sdk("17.0.0", "2027-03-31.fig")
    assert run_checks(CLEAN) == [
        CheckWarning(
            f"FIKO_BILLING['STRIPE_API_VERSION'] is {PINNED_API_VERSION!r} (the default), but "
            "the installed stripe SDK 17.0.0 pins API version '2027-03-31.fig': Stripe's "
            "objects may arrive in shapes that neither the SDK nor fiko-billing expects.",
            hint=f"Install a stripe SDK release that pins {PINNED_API_VERSION!r}, the API "
            "version fiko-billing is built and tested against, and leave "
            "FIKO_BILLING['STRIPE_API_VERSION'] at its default.",
            id="fiko_billing.W001",
        )
    ]


def test_w001_an_explicit_version_equal_to_the_sdk_pin_is_fine(sdk: Any) -> None:
    sdk("17.0.0", "2027-03-31.fig")
    assert run_checks({**CLEAN, "STRIPE_API_VERSION": "2027-03-31.fig"}) == []


# ------------------------------------------------------------------ secrets never shown


@pytest.mark.parametrize(
    "config",
    [
        {**CLEAN, "STRIPE_SECRET_KEY": "sk_live_S3CR3T"},
        {
            **LIVE,
            "STRIPE_SECRET_KEY": "sk_test_S3CR3T",
            "STRIPE_PUBLISHABLE_KEY": "rk_live_S3CR3T",
        },
        {**CLEAN, "STRIPE_SECRET_KEY": "pk_live_S3CR3T"},
        {**CLEAN, "STRIPE_WEBHOOK_SECRET": ["sk_live_S3CR3T", "S3CR3T"]},
        {**CLEAN, "STRIPE_SECRET_KEY": b"sk_live_S3CR3T"},
        {**CLEAN, "STRIPE_WEBHOOK_SECRET": {"whsec_S3CR3T": 1}},
    ],
)
def test_no_message_shows_more_of_a_secret_than_its_prefix(config: dict[str, Any]) -> None:
    messages = run_checks(config)
    assert messages
    for message in messages:
        assert "S3CR3T" not in message.msg
        assert "S3CR3T" not in str(message.hint)


# ------------------------------------------------------------------ registration


def test_manage_py_check_fails_with_e001() -> None:
    with (
        override_settings(FIKO_BILLING={**CLEAN, "STRIPE_SECRET_KEY": ""}),
        pytest.raises(SystemCheckError) as caught,
    ):
        call_command("check", stdout=StringIO(), stderr=StringIO())
    assert "?: (fiko_billing.E001) Stripe is enabled (FIKO_BILLING['ENABLED'] is True)" in str(
        caught.value
    )


def test_manage_py_check_passes_with_a_clean_configuration() -> None:
    out = StringIO()
    with override_settings(FIKO_BILLING=LIVE):
        call_command("check", tags=["fiko_billing"], stdout=out, stderr=StringIO())
    assert out.getvalue() == "System check identified no issues (0 silenced).\n"


def test_key_checks_run_under_the_security_tag() -> None:
    with (
        override_settings(FIKO_BILLING={**CLEAN, "STRIPE_PUBLISHABLE_KEY": "sk_test_S3CR3T"}),
        pytest.raises(SystemCheckError, match=r"fiko_billing\.E006"),
    ):
        call_command("check", tags=[Tags.security], stdout=StringIO(), stderr=StringIO())


def test_the_currency_check_is_not_a_security_check() -> None:
    with override_settings(FIKO_BILLING={**CLEAN, "CURRENCY": "zzz"}):
        call_command("check", tags=[Tags.security], stdout=StringIO(), stderr=StringIO())
        with pytest.raises(SystemCheckError, match=r"fiko_billing\.E007"):
            call_command("check", tags=["fiko_billing"], stdout=StringIO(), stderr=StringIO())


def test_a_silenced_id_is_not_reported() -> None:
    out = StringIO()
    with override_settings(
        FIKO_BILLING={**CLEAN, "CURRENCY": "zzz"},
        SILENCED_SYSTEM_CHECKS=["fiko_billing.E007"],
    ):
        call_command("check", tags=["fiko_billing"], stdout=out, stderr=StringIO())
    assert out.getvalue() == "System check identified no issues (1 silenced).\n"


def test_every_id_is_listed_in_the_comment_block_at_the_top() -> None:
    source = "".join(
        inspect.getsource(module)
        for module in (
            billing_checks.snapshot,
            billing_checks.configuration,
            billing_checks.credentials,
        )
    )
    used = set(re.findall(r'id="(fiko_billing\.[EW]\d{3})"', source))
    assert len(used) == 13
    listed = set(re.findall(r"^(fiko_billing\.[EW]\d{3}) ", billing_checks.__doc__ or "", re.M))
    assert used <= listed
