"""How the demo finds who pays: the session's user, or an API token.

The seed integration authenticates its front end with ``Authorization:
Bearer <token>``. A real project maps its JWT or API keys to the user here
(see the JWT example in the docs); the demo accepts one fixed token for the
demo user, so the seed's ``curl`` request works as written. Only that path
returns ``HeaderAuthenticated``: a request on the session cookie keeps its
CSRF check whatever other headers it carries.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from demo import hints
from fiko_billing.subscribers import HeaderAuthenticated, resolve_request_user


def session_or_api_token(request: HttpRequest) -> Any:
    user = resolve_request_user(request)
    if user is not None:
        return user
    header = request.META.get("HTTP_AUTHORIZATION", "")
    token: str = settings.DEMO_API_TOKEN
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        user = get_user_model()._default_manager.filter(username=hints.DEMO_USERNAME).first()
        # Authenticated by the header, not the session: no CSRF token is needed.
        return None if user is None else HeaderAuthenticated(user)
    return None
