"""django-ninja: ``ActivePlan``, an ``auth`` callable (needs ``fiko-billing[ninja]``).

```python
from fiko_billing.contrib.ninja import ActivePlan, use_error_envelope

api = NinjaAPI()
use_error_envelope(api)  # optional: denials as {"error": {"code", "message"}}

@api.get("/reports", auth=ActivePlan())  # or ActivePlan(plans=["Pro"])
def reports(request):
    subscriber = request.auth
```

The callable resolves the subscriber with ``SUBSCRIBER_RESOLVER``; none
means ninja's 401. A subscriber without an active plan raises
``NotEntitled`` (an ``HttpError``) with status 402 and code
``subscription_required``, another plan 403 ``plan_not_allowed``.
"""

from __future__ import annotations

try:
    from ninja import NinjaAPI
    from ninja.errors import HttpError
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    from fiko_billing.contrib import missing_extra

    raise missing_extra("django-ninja", "ninja", __name__) from exc

from django.http import HttpRequest, HttpResponse

from fiko_billing.access import Denial, check_access
from fiko_billing.api import error_response
from fiko_billing.entitlements import PlanSelector
from fiko_billing.subscribers import Subscriber

__all__ = ["ActivePlan", "NotEntitled", "use_error_envelope"]


class NotEntitled(HttpError):
    """The subscriber may not call the operation; ``code`` is the stable error code."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.status, denial.message)
        self.code = denial.code


class ActivePlan:
    """``auth=ActivePlan(plans=None)``: the request's subscriber, if its plan is active."""

    def __init__(self, plans: PlanSelector | None = None) -> None:
        self.plans = plans

    def __call__(self, request: HttpRequest) -> Subscriber | None:
        outcome = check_access(request, self.plans)
        if not isinstance(outcome, Denial):
            return outcome.subscriber
        if outcome.status == 401:
            return None  # ninja tries the next auth callable, then answers 401
        raise NotEntitled(outcome)


def use_error_envelope(api: NinjaAPI) -> None:
    """Render ``NotEntitled`` on ``api`` as ``{"error": {"code", "message"}}``."""

    def handler(request: HttpRequest, exc: NotEntitled | type[NotEntitled]) -> HttpResponse:
        assert isinstance(exc, NotEntitled)  # noqa: S101 - registered for instances alone
        return error_response(exc.status_code, exc.code, exc.message)

    api.add_exception_handler(NotEntitled, handler)
