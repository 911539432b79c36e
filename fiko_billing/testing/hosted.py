"""Paying on the emulator's hosted Checkout page over plain HTTP, as a browser would."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

#: Stripe's test cards, as the emulator understands them.
CARD_SUCCEEDS = "4242 4242 4242 4242"
CARD_3D_SECURE = "4000 0025 0000 3155"
CARD_DECLINED = "4000 0000 0000 9995"
CARD_FAILS_AT_RENEWAL = "4000 0000 0000 0341"


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_KeepRedirects, urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class HostedPage:
    """A hosted page's answer; ``location`` is set on a redirect (to ``success_url``)."""

    status: int
    body: str
    location: str | None

    @property
    def paid(self) -> bool:
        return self.status in (302, 303) and self.location is not None

    @property
    def needs_3d_secure(self) -> bool:
        return self.status == 200 and 'value="complete"' in self.body


def _post(url: str, fields: dict[str, str]) -> HostedPage:
    if not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ValueError(f"only a local emulator's pages are posted to, not {url!r}")
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 - local only
    try:
        with _opener.open(request, timeout=10) as response:
            return HostedPage(
                response.status, response.read().decode(), response.headers["Location"]
            )
    except urllib.error.HTTPError as error:
        with error:
            return HostedPage(error.code, error.read().decode(), error.headers.get("Location"))


def pay_checkout(
    url: str,
    card: str = CARD_SUCCEEDS,
    *,
    promotion_code: str | None = None,
    three_d_secure: str = "complete",
    email: str = "buyer@example.com",
) -> HostedPage:
    """Fill in and submit the hosted Checkout page at ``url`` (a session's ``url``).

    A card that asks for 3D Secure is then answered with ``three_d_secure``
    (``"complete"`` or ``"fail"``). Returns the final page: a redirect to the
    success URL when paid, the form with Stripe's message when declined.
    """
    fields = {
        "action": "pay",
        "card_number": card,
        "card_expiry": "12 / 34",
        "card_cvc": "123",
        "email": email,
    }
    if promotion_code:
        fields["promotion_code"] = promotion_code
    page = _post(url, fields)
    if page.needs_3d_secure:
        page = _post(f"{url.rstrip('/')}/3ds", {"outcome": three_d_secure})
    return page
