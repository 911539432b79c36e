"""``consumes_tokens(n)``: a view that costs tokens.

For each request, in this order:

1. The subscriber is resolved as the JSON API resolves it (``401
   not_authenticated`` or ``403 no_billing_account`` without one).
2. ``n`` tokens are **reserved** under the request's reference: they leave the
   spendable balance before the view runs, so parallel requests cannot spend
   them twice. Too few tokens: ``402 insufficient_tokens``, the view is not
   called.
3. The view runs.
4. A response with a 2xx status **settles** the reservation: the ``n`` tokens
   are spent. Any other status, or an exception, is a failure: the tokens are
   spent all the same (the work may have cost you already), unless the
   decorator was given ``release_on_failure=True``, which **releases** them
   back to the balance. An exception propagates after that.

The reference is ``<prefix>:<Idempotency-Key header>``; the prefix is the
view's name unless given. A request that repeats an ``Idempotency-Key``
already used on that view (a retry, a double submit, a concurrent duplicate)
answers ``409 duplicate_request`` without running the view and without
spending anything more. Without the header, each request gets a fresh random
key, so each request is charged on its own.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _

from fiko_billing import tokens
from fiko_billing.access import Denial, require_sync, subscriber_for_request, unresolved
from fiko_billing.api import Unresolved
from fiko_billing.exceptions import InsufficientTokens, ReferenceConflict, ReservationExpired
from fiko_billing.subscribers import Subscriber, ensure_subscriber

logger = logging.getLogger("fiko_billing.metering")

__all__ = ["IDEMPOTENCY_HEADER", "consumes_tokens"]

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponseBase])

#: The request header whose value makes a retry recognisable (``Idempotency-Key``).
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128
MAX_PREFIX_LENGTH = 100


def _check_prefix(prefix: str) -> str:
    if not prefix or len(prefix) > MAX_PREFIX_LENGTH or not prefix.isprintable():
        raise ValueError(
            f"reference_prefix must be 1 to {MAX_PREFIX_LENGTH} printable characters, "
            f"not {prefix!r}"
        )
    if f"{prefix}:".startswith(tokens.INTERNAL_PREFIXES):
        raise ValueError(
            f"reference prefix {prefix!r} collides with the ledger's own references; "
            "pass another reference_prefix"
        )
    return prefix


def _request_key(request: HttpRequest) -> str | Denial:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return uuid.uuid4().hex
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        return Denial(
            400,
            "invalid_idempotency_key",
            _("The Idempotency-Key header must be 1 to %(max)d printable ASCII characters.")
            % {"max": MAX_KEY_LENGTH},
        )
    return key


def consumes_tokens(
    amount: int,
    *,
    release_on_failure: bool = False,
    reference_prefix: str | None = None,
    description: str = "",
) -> Callable[[ViewFunc], ViewFunc]:
    """Charge ``amount`` tokens for each request the decorated view answers (see the module).

    ``description`` is written on the ledger entries (default: the prefix).
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive int, not {amount!r}")

    def decorate(view: ViewFunc) -> ViewFunc:
        require_sync(view, "consumes_tokens")
        prefix = _check_prefix(view.__name__ if reference_prefix is None else reference_prefix)

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                subscriber = subscriber_for_request(request)
            except Unresolved as exc:
                return unresolved(exc).response()
            key = _request_key(request)
            if isinstance(key, Denial):
                return key.response()
            held = _reserve(
                ensure_subscriber(subscriber),
                amount,
                reference=f"{prefix}:{key}",
                description=description or prefix,
            )
            if isinstance(held, Denial):
                return held.response()
            return _run_charged(held, release_on_failure, view, request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _reserve(
    subscriber: Subscriber, amount: int, *, reference: str, description: str
) -> tokens.Reservation | Denial:
    try:
        held = tokens.reserve(subscriber, amount, reference=reference, description=description)
    except InsufficientTokens as exc:
        return Denial(
            402,
            "insufficient_tokens",
            _("This needs %(required)d tokens; %(available)d are available.")
            % {"required": exc.requested, "available": max(exc.available, 0)},
        )
    except ReferenceConflict:
        held = None
    if held is None or held.reused:
        # A reused reference means this Idempotency-Key was seen before: the
        # first request was charged, the repeat must not run the view again.
        return Denial(
            409,
            "duplicate_request",
            _("A request with this Idempotency-Key was already made."),
        )
    return held


def _run_charged(
    held: tokens.Reservation,
    release_on_failure: bool,
    view: Callable[..., HttpResponseBase],
    request: HttpRequest,
    *args: Any,
    **kwargs: Any,
) -> HttpResponseBase:
    try:
        response = view(request, *args, **kwargs)
    except BaseException:
        _close(held, succeeded=False, release_on_failure=release_on_failure)
        raise
    _close(
        held,
        succeeded=200 <= response.status_code < 300,
        release_on_failure=release_on_failure,
    )
    return response


def _close(held: tokens.Reservation, *, succeeded: bool, release_on_failure: bool) -> None:
    if not succeeded and release_on_failure:
        held.release()
        return
    try:
        held.settle(held.amount)
    except ReservationExpired:
        # The view outlived RESERVATION_TIMEOUT and the hold was given back;
        # its answer stands, uncharged, rather than becoming a 500.
        logger.warning(
            "reservation %s expired before the view answered; nothing was charged", held.pk
        )
