"""Time budgets: no Stripe call, retry or backoff outlasts its caller's budget."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import requests
import stripe

from fiko_billing.conf import billing_settings

# ---------------------------------------------------------------------- time budgets

#: Backoff before retry n is RETRY_INITIAL_DELAY * 2**(n-1), at most RETRY_MAX_DELAY,
#: taken at random from its upper half so that clients do not retry in step.
RETRY_INITIAL_DELAY = 0.5
RETRY_MAX_DELAY = 5.0
#: No attempt is started with less time left than this: it could not be answered.
MIN_ATTEMPT_SECONDS = 0.05


@dataclass(frozen=True)
class _Budget:
    #: The seconds given to the scope (shown in ``StripeTimeout``).
    seconds: float
    #: Seconds each call may take.
    per_call: float
    #: ``time.monotonic()`` by which every call of the scope must be done, if shared.
    deadline: float | None


_budget: ContextVar[_Budget | None] = ContextVar("fiko_billing_stripe_budget", default=None)
attempt_timeout: ContextVar[float | None] = ContextVar(
    "fiko_billing_stripe_attempt_timeout", default=None
)


@contextmanager
def time_budget(seconds: float, *, each_call: bool = False) -> Iterator[None]:
    """Bound the time the Stripe calls made inside may take, retries included.

    By default the calls share ``seconds`` (someone is waiting for all of
    them); with ``each_call`` each call gets ``seconds`` of its own (a command
    working through many objects). A budget opened inside another never
    extends it. A call that runs out raises ``StripeTimeout``.
    """
    if not seconds > 0:
        raise ValueError(f"a time budget must be more than zero seconds, not {seconds!r}")
    outer = _budget.get()
    deadline = None if each_call else time.monotonic() + seconds
    per_call = seconds
    if outer is not None:
        # What StripeTimeout names: the tighter of the two.
        seconds = min(seconds, outer.seconds)
        per_call = min(per_call, outer.per_call)
        if outer.deadline is not None:
            deadline = outer.deadline if deadline is None else min(deadline, outer.deadline)
    token = _budget.set(_Budget(seconds, per_call, deadline))
    try:
        yield
    finally:
        _budget.reset(token)


def request_time_budget() -> AbstractContextManager[None]:
    """The budget of an API request: ``STRIPE_REQUEST_TIME_BUDGET`` for all its calls."""
    return time_budget(billing_settings.STRIPE_REQUEST_TIME_BUDGET)


def command_time_budget() -> AbstractContextManager[None]:
    """The budget of a management command: ``STRIPE_COMMAND_TIME_BUDGET`` for each call."""
    return time_budget(billing_settings.STRIPE_COMMAND_TIME_BUDGET, each_call=True)


def call_deadline() -> tuple[float, float]:
    """When the next call must be done (``time.monotonic()``), and its budget in seconds."""
    now = time.monotonic()
    budget = _budget.get()
    if budget is None:
        seconds = billing_settings.STRIPE_REQUEST_TIME_BUDGET
        return now + seconds, seconds
    deadline = now + budget.per_call
    if budget.deadline is not None:
        deadline = min(deadline, budget.deadline)
    return deadline, budget.seconds


class BudgetedSession(requests.Session):
    """A ``requests`` session whose timeout is the time left for the current attempt."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        timeout = attempt_timeout.get()
        if timeout is not None:
            kwargs["timeout"] = timeout
        return super().request(*args, **kwargs)


def should_retry(exc: stripe.StripeError) -> bool:
    """Whether another attempt may succeed: what the SDK itself would retry."""
    if isinstance(exc, stripe.APIConnectionError):
        return bool(exc.should_retry)
    headers = {str(k).lower(): v for k, v in (exc.headers or {}).items()}
    advice = headers.get("stripe-should-retry")
    if advice in ("true", "false"):
        return advice == "true"
    status = exc.http_status or 0
    return status == 409 or status >= 500


def backoff(retry: int) -> float:
    delay: float = min(RETRY_INITIAL_DELAY * 2 ** (retry - 1), RETRY_MAX_DELAY)
    return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


def retry_delay(
    exc: stripe.StripeError, retries: int, max_retries: int, deadline: float
) -> float | None:
    """The pause before another attempt, or ``None`` when ``exc`` ends the call."""
    if retries >= max_retries or not should_retry(exc):
        return None
    delay = backoff(retries + 1)
    # A retry that cannot finish within the budget would only postpone the timeout.
    if time.monotonic() + delay + MIN_ATTEMPT_SECONDS >= deadline:
        return None
    return delay


def timed_out(exc: stripe.StripeError) -> bool:
    return isinstance(exc, stripe.APIConnectionError) and isinstance(
        exc.__cause__, requests.exceptions.Timeout
    )
