"""Who pays: the subscriber model and the request -> subscriber resolver."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.http import HttpRequest

from fiko_billing.conf import SUBSCRIBER_MODEL_SETTING, billing_settings, subscriber_model_label


def get_subscriber_model() -> type[models.Model]:
    """The model class named by ``FIKO_BILLING_SUBSCRIBER_MODEL`` (default: the user model)."""
    label = subscriber_model_label()
    try:
        return apps.get_model(label, require_ready=False)
    except LookupError as exc:
        raise ImproperlyConfigured(
            f"{SUBSCRIBER_MODEL_SETTING} refers to model {label!r}, which is not installed."
        ) from exc


def ensure_subscriber(subscriber: object) -> models.Model:
    """``subscriber`` if it is a saved instance of the subscriber model.

    Every public function that takes a subscriber calls this first: with an
    organisation as the subscriber, passing ``request.user`` by mistake must
    fail loudly, not act on the organisation whose primary key equals the
    user's.
    """
    model = get_subscriber_model()
    if not isinstance(subscriber, model):
        raise TypeError(
            f"expected an instance of {model._meta.label} (the subscriber model, "
            f"{SUBSCRIBER_MODEL_SETTING}), got {type(subscriber).__name__}"
        )
    if subscriber.pk is None:
        raise ValueError(f"the {model._meta.label} must be saved before it can be billed")
    return subscriber


def resolve_subscriber(request: HttpRequest) -> Any:
    """The subscriber of ``request`` by the ``SUBSCRIBER_RESOLVER`` setting, else ``None``.

    The one place the resolver is called: the JSON API, the view decorators
    and mixin, the context processor and the ``fiko_billing.contrib``
    integrations all resolve a request's payer through it.
    """
    return billing_settings.SUBSCRIBER_RESOLVER(request)


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
