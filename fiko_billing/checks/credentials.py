"""Checks of the keys, webhook secrets and return URLs: E001 to E006, E008, E009."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.checks import CheckMessage, Error, Tags

from fiko_billing.checks.snapshot import (
    INVALID,
    LIVE_PUBLISHABLE_PREFIX,
    LIVE_SECRET_PREFIXES,
    PUBLISHABLE_PREFIX,
    RETURN_PAGES,
    SECRET_KEY_PREFIXES,
    TAG,
    TEST_PUBLISHABLE_PREFIX,
    TEST_SECRET_PREFIXES,
    WEBHOOK_SECRET_PREFIX,
    Snapshot,
    capital,
    is_https,
    key_prefix,
    startswith,
)
from fiko_billing.conf import SETTING_NAME


@checks.register(TAG, Tags.security)
def check_stripe_credentials(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """Keys, webhook secrets and return URLs: E001 to E006, E008, E009."""
    snapshot, _errors = Snapshot.read()
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


def _check_required(snapshot: Snapshot) -> list[CheckMessage]:
    # Said of where ENABLED really comes from: a project without FIKO_BILLING is
    # enabled by default, not by a FIKO_BILLING['ENABLED'] it never wrote.
    if snapshot.is_default("ENABLED"):
        enabled = f"by default: {snapshot.neither('ENABLED')}"
    else:
        enabled = f"{snapshot.where('ENABLED')} is True"
    switch_off = f"or set {snapshot.where_to_set('ENABLED')} to False."
    messages: list[CheckMessage] = []
    secret_key = snapshot.get("STRIPE_SECRET_KEY")
    if isinstance(secret_key, str) and not secret_key.strip():
        messages.append(
            Error(
                f"Stripe is enabled ({enabled}) but "
                f"{snapshot.unset_or_empty('STRIPE_SECRET_KEY')}, "
                "so no request to Stripe can be made.",
                hint=(
                    f"Set {snapshot.where_to_set('STRIPE_SECRET_KEY')} to your Stripe secret "
                    "key (sk_test_… or sk_live_…, Stripe Dashboard → Developers → API keys), "
                    + switch_off
                ),
                id="fiko_billing.E001",
            )
        )
    if snapshot.get("STRIPE_WEBHOOK_SECRET") == ():
        messages.append(
            Error(
                f"Stripe is enabled ({enabled}) but "
                f"{snapshot.unset_or_empty('STRIPE_WEBHOOK_SECRET')}, "
                "so every webhook Stripe sends is rejected.",
                hint=(
                    f"Set {snapshot.where_to_set('STRIPE_WEBHOOK_SECRET')} to the signing "
                    "secret (whsec_…) of your webhook endpoint (Stripe Dashboard → Developers "
                    "→ Webhooks), " + switch_off
                ),
                id="fiko_billing.E002",
            )
        )
    return messages


def _check_mode(snapshot: Snapshot) -> list[CheckMessage]:
    test_mode = snapshot.get("TEST_MODE")
    if snapshot.get("ENABLED") is not True or test_mode is INVALID:
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
            prefix = startswith(value, live_prefixes)
            if prefix is None:
                continue
            messages.append(
                Error(
                    f"{capital(where)} holds a live-mode key ({prefix}…) but {mode_where} "
                    "is True.",
                    hint=(
                        f"Put a test-mode key ({prefix.replace('_live_', '_test_')}…) in "
                        f"{where}, or, on a production deployment, set {mode_to_set} to False."
                    ),
                    id="fiko_billing.E003",
                )
            )
        else:
            prefix = startswith(value, test_prefixes)
            if prefix is None:
                continue
            messages.append(
                Error(
                    f"{capital(where)} holds a test-mode key ({prefix}…) but {mode_where} "
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


def _check_key_kinds(snapshot: Snapshot) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    secret_key = snapshot.get("STRIPE_SECRET_KEY")
    if startswith(secret_key, PUBLISHABLE_PREFIX):
        where = snapshot.where("STRIPE_SECRET_KEY")
        messages.append(
            Error(
                f"{capital(where)} holds a publishable key ({key_prefix(secret_key)}…), "
                "not a secret key.",
                hint=(
                    f"Put the secret key (sk_…, or a restricted key rk_…) in {where}; the "
                    f"publishable key belongs in {SETTING_NAME}['STRIPE_PUBLISHABLE_KEY']."
                ),
                id="fiko_billing.E005",
            )
        )
    publishable_key = snapshot.get("STRIPE_PUBLISHABLE_KEY")
    if startswith(publishable_key, SECRET_KEY_PREFIXES):
        where = snapshot.where("STRIPE_PUBLISHABLE_KEY")
        messages.append(
            Error(
                f"{capital(where)} holds a secret key ({key_prefix(publishable_key)}…); "
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


def _check_urls(snapshot: Snapshot) -> list[CheckMessage]:
    if snapshot.get("TEST_MODE") is not False:
        return []
    mode_where = snapshot.where("TEST_MODE")
    messages: list[CheckMessage] = []
    for key, page in RETURN_PAGES.items():
        url = snapshot.get(key)
        if url is INVALID or is_https(url):
            continue
        where = snapshot.where(key)
        default = snapshot.default_note(key)
        messages.append(
            Error(
                f"{capital(where)} is {url!r}{default}, not an https URL, but {mode_where} "
                "is False.",
                hint=f"Set {where} to the https URL of {page}.",
                id="fiko_billing.E008",
            )
        )
    return messages


def _check_webhook_secrets(snapshot: Snapshot) -> list[CheckMessage]:
    if snapshot.get("STRIPE_WEBHOOK_SECRET") is INVALID:
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
        prefix = key_prefix(secret)
        looks_like = f" (it starts like an API key, {prefix}…)" if prefix else ""
        messages.append(
            Error(
                f"{capital(name)} is not a webhook signing secret{looks_like}: signing "
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
