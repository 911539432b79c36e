"""Who pays: the subscriber model and the request -> subscriber resolver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.http import HttpRequest

from fiko_billing.conf import SUBSCRIBER_MODEL_SETTING, subscriber_model_label

Subscriber: TypeAlias = models.Model
"""An instance of the subscriber model (``FIKO_BILLING_SUBSCRIBER_MODEL``).

The model is swappable, as ``AUTH_USER_MODEL`` is, so its class is only known
once the project's settings are read: the alias names what every subscriber
is, a saved Django model instance, and :func:`ensure_subscriber` checks at
run time that it is the configured model.
"""


def get_subscriber_model() -> type[models.Model]:
    """The model class named by ``FIKO_BILLING_SUBSCRIBER_MODEL`` (default: the user model)."""
    label = subscriber_model_label()
    try:
        return apps.get_model(label, require_ready=False)
    except LookupError as exc:
        raise ImproperlyConfigured(
            f"{SUBSCRIBER_MODEL_SETTING} refers to model {label!r}, which is not installed."
        ) from exc


def ensure_subscriber(subscriber: object) -> Subscriber:
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


def as_foreign_key(subscriber: Subscriber) -> Any:
    """``subscriber``, as the foreign keys to the subscriber model take it.

    mypy's Django plugin types those keys with the model named by the settings
    it checks under (the test project's user model), a class the package
    cannot name since a host swaps it: the hand-over from :data:`Subscriber`
    to such a key, in a lookup or a new row, is unchecked here, in one place.
    ``None`` is refused by the type: ``filter(subscriber=None)`` would match
    every erased subscriber's rows.
    """
    return subscriber


@dataclass(frozen=True)
class HeaderAuthenticated:
    """What a ``SUBSCRIBER_RESOLVER`` returns for a request it authenticated by a
    credential the client put in a header itself (a Bearer/JWT token, an API key).

    The JSON API checks CSRF on every ``POST`` unless the resolver says, by
    returning this wrapper, that the request was authenticated without the
    session cookie. A browser never adds such a header on its own to a request
    another site makes, so that request cannot be forged. Never return it for
    credentials a browser sends by itself: the session or any other cookie,
    HTTP Basic, Digest, Negotiate or NTLM, a client certificate. Whatever
    headers a request carries, a plain subscriber (the default resolver's
    answer) keeps the CSRF check.
    """

    subscriber: Subscriber


def resolve_request_user(request: HttpRequest) -> Subscriber | None:
    """Default ``SUBSCRIBER_RESOLVER``: the authenticated ``request.user``, else ``None``.

    Projects whose subscriber is not the user (an organisation, a team) or that
    authenticate with Bearer tokens point ``SUBSCRIBER_RESOLVER`` at their own
    function of the same signature (the ``fiko_billing.E012`` system check
    insists on it when the subscriber is not the user model).
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    subscriber: Subscriber = user
    return subscriber
