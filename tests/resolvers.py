"""A ``SUBSCRIBER_RESOLVER`` for the API tests: ``Authorization: Bearer sub-<pk>``.

It resolves the configured subscriber model (user or organisation) alike, the
way a host project maps its own Bearer/JWT or API-key credentials to the payer.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from fiko_billing.subscribers import get_subscriber_model

PREFIX = "Bearer sub-"
DOTTED_PATH = "tests.resolvers.bearer_subscriber"


def bearer_subscriber(request: HttpRequest) -> Any:
    """The subscriber named by the ``Authorization`` header, else ``None``."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith(PREFIX):
        return None
    pk = header.removeprefix(PREFIX)
    if not (pk.isascii() and pk.isdigit()):
        return None
    return get_subscriber_model()._default_manager.filter(pk=int(pk)).first()


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
