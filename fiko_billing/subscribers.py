"""Who pays: the subscriber model and the request -> subscriber resolver."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.http import HttpRequest

from fiko_billing.conf import SUBSCRIBER_MODEL_SETTING, subscriber_model_label


def get_subscriber_model() -> type[models.Model]:
    """The model class named by ``FIKO_BILLING_SUBSCRIBER_MODEL`` (default: the user model)."""
    label = subscriber_model_label()
    try:
        return apps.get_model(label, require_ready=False)
    except LookupError as exc:
        raise ImproperlyConfigured(
            f"{SUBSCRIBER_MODEL_SETTING} refers to model {label!r}, which is not installed."
        ) from exc


def resolve_request_user(request: HttpRequest) -> Any:
    """Default ``SUBSCRIBER_RESOLVER``: the authenticated ``request.user``, else ``None``.

    Projects whose subscriber is not the user (an organisation, a team) or that
    authenticate with Bearer tokens point ``SUBSCRIBER_RESOLVER`` at their own
    function of the same signature.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user
