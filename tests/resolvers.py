"""``SUBSCRIBER_RESOLVER``s for the tests, for both subscriber models.

``bearer_subscriber`` maps ``Authorization: Bearer sub-<pk>`` to the subscriber,
the way a host project maps its own Bearer/JWT or API-key credentials to the
payer, and says so (``HeaderAuthenticated``), so such requests skip CSRF.
``session_subscriber`` is the session's user, or the organisation the user is
a member of; ``bearer_or_session`` tries the header first, as most hosts do.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest

from fiko_billing.subscribers import HeaderAuthenticated, get_subscriber_model

PREFIX = "Bearer sub-"
DOTTED_PATH = "tests.resolvers.bearer_subscriber"
SESSION_PATH = "tests.resolvers.session_subscriber"
BEARER_OR_SESSION_PATH = "tests.resolvers.bearer_or_session"


def bearer_subscriber(request: HttpRequest) -> Any:
    """The subscriber named by the ``Authorization`` header, else ``None``."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith(PREFIX):
        return None
    pk = header.removeprefix(PREFIX)
    if not (pk.isascii() and pk.isdigit() and len(pk) <= 18):
        return None
    subscriber = get_subscriber_model()._default_manager.filter(pk=int(pk)).first()
    return None if subscriber is None else HeaderAuthenticated(subscriber)


def session_subscriber(request: HttpRequest) -> Any:
    """The logged-in user, or with organisations, the one the user belongs to (else ``None``)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if get_subscriber_model() is get_user_model():
        return user
    membership = getattr(user, "membership", None)
    return None if membership is None else membership.organisation


def bearer_or_session(request: HttpRequest) -> Any:
    return bearer_subscriber(request) or session_subscriber(request)


def bearer(subscriber: Any) -> str:
    """The ``Authorization`` header value that ``bearer_subscriber`` resolves to ``subscriber``."""
    return f"{PREFIX}{subscriber.pk}"


def use_bearer_resolver(settings: Any) -> None:
    """Point ``FIKO_BILLING['SUBSCRIBER_RESOLVER']`` at ``bearer_subscriber``."""
    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "SUBSCRIBER_RESOLVER": DOTTED_PATH}


def bearer_client(client: Any, settings: Any, subscriber: Any) -> Any:
    """``client`` authenticated as ``subscriber`` through the Bearer resolver."""
    use_bearer_resolver(settings)
    client.defaults["HTTP_AUTHORIZATION"] = bearer(subscriber)
    client.subscriber = subscriber
    return client


def member_user(subscriber: Any) -> Any:
    """A user whose session resolves to ``subscriber`` (the subscriber itself, or a member)."""
    from tests.factories import UserFactory
    from tests.testapp.models import Membership

    if get_subscriber_model() is get_user_model():
        return subscriber
    user = UserFactory()
    Membership.objects.create(user=user, organisation=subscriber)
    return user


def session_client(
    settings: Any, subscriber: Any, *, resolver: str = BEARER_OR_SESSION_PATH
) -> Any:
    """A browser logged in with the session cookie, CSRF enforced as in production.

    Its session resolves to ``subscriber`` for either subscriber model; by
    default through ``bearer_or_session``, the way most hosts combine an API
    token with the session.
    """
    from django.test import Client

    settings.FIKO_BILLING = {**settings.FIKO_BILLING, "SUBSCRIBER_RESOLVER": resolver}
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member_user(subscriber))
    browser.subscriber = subscriber
    return browser
