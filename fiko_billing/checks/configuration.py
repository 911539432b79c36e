"""Checks of the values: readable (E010), the currency (E007), the subscriber model
(E011, E012) and the Stripe API version (W001)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from fiko_billing.checks.snapshot import INVALID, TAG, Snapshot, capital
from fiko_billing.conf import (
    PINNED_API_VERSION,
    SETTING_NAME,
    SUBSCRIBER_MODEL_SETTING,
    subscriber_model_label,
)
from fiko_billing.money import ISO_4217
from fiko_billing.subscribers import get_subscriber_model, resolve_request_user


@checks.register(TAG)
def check_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Readable settings (E010), the currency (E007), the subscriber model (E011, E012), W001."""
    snapshot, errors = Snapshot.read()
    messages = list(errors)
    if snapshot is not None:
        messages += _check_currency(snapshot)
        messages += _check_api_version(snapshot)
    subscriber_model_errors = _check_subscriber_model()
    messages += subscriber_model_errors
    if snapshot is not None and not subscriber_model_errors:
        messages += _check_subscriber_resolver(snapshot)
    return messages


def _check_currency(snapshot: Snapshot) -> list[CheckMessage]:
    currency = snapshot.get("CURRENCY")
    if currency is INVALID or currency in ISO_4217:
        return []
    where = snapshot.where("CURRENCY")
    return [
        Error(
            f"{capital(where)} is {currency!r}, which is not an ISO 4217 currency code "
            "that Stripe supports.",
            hint=f"Set {where} to a three-letter currency code such as 'usd', 'eur' or 'jpy'.",
            id="fiko_billing.E007",
        )
    ]


def _check_api_version(snapshot: Snapshot) -> list[CheckMessage]:
    # The SDK is imported here only to read its version numbers. The version its
    # types are generated for has no public name: ``stripe.api_version`` starts
    # as that value but is the process-wide default a project may reassign, so
    # it would no longer say what the installed SDK was built for.
    import stripe
    from stripe._api_version import _ApiVersion

    configured = snapshot.get("STRIPE_API_VERSION")
    sdk_pin = _ApiVersion.CURRENT
    if configured is INVALID or configured == sdk_pin:
        return []
    where = snapshot.where("STRIPE_API_VERSION")
    default = snapshot.default_note("STRIPE_API_VERSION")
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
            f"{capital(where)} is {configured!r}{default}, but the installed stripe SDK "
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


def _check_subscriber_resolver(snapshot: Snapshot) -> list[CheckMessage]:
    label = subscriber_model_label()
    if get_subscriber_model() is get_user_model():
        return []
    if snapshot.get("SUBSCRIBER_RESOLVER") is not resolve_request_user:
        return []
    where = snapshot.where("SUBSCRIBER_RESOLVER")
    default = snapshot.default_note("SUBSCRIBER_RESOLVER")
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
