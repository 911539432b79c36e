"""Django REST framework permissions: ``HasActivePlan`` (needs ``fiko-billing[drf]``).

```python
from fiko_billing.contrib.drf import HasActivePlan

class ReportViewSet(viewsets.ModelViewSet):
    permission_classes = [IsAuthenticated, HasActivePlan]  # or HasActivePlan.for_plans("Pro")
```

Denials raise DRF exceptions, so your DRF exception handler renders them:
``PaymentRequired`` (402, code ``subscription_required``) without an active
plan, ``PlanNotAllowed`` (403, code ``plan_not_allowed``) with another plan,
``PermissionDenied`` with code ``no_billing_account`` for a signed-in user
without a billing account; nobody signed in is DRF's own
``NotAuthenticated`` / ``PermissionDenied``.
"""

from __future__ import annotations

from typing import Any

try:
    from rest_framework import exceptions, permissions, status
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    from fiko_billing.contrib import missing_extra

    raise missing_extra("djangorestframework", "drf", __name__) from exc

from django.utils.translation import gettext_lazy as _

from fiko_billing.access import Denial, check_access
from fiko_billing.entitlements import PlanSelector

__all__ = ["HasActivePlan", "PaymentRequired", "PlanNotAllowed"]


class PaymentRequired(exceptions.APIException):
    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_detail = _("An active subscription is required for this.")
    default_code = "subscription_required"


class PlanNotAllowed(exceptions.PermissionDenied):
    default_detail = _("Your plan does not include this.")
    default_code = "plan_not_allowed"


class HasActivePlan(permissions.BasePermission):
    """Allows subscribers whose plan is active (and one of ``plans``, when set)."""

    plans: PlanSelector | None = None

    @classmethod
    def for_plans(cls, *plans: Any) -> type[HasActivePlan]:
        """A subclass that accepts only ``plans`` (``Plan`` instances, primary keys or names)."""
        return type(f"{cls.__name__}ForPlans", (cls,), {"plans": tuple(plans)})

    def has_permission(self, request: Any, view: Any) -> bool:
        # DRF's Request passes attribute reads to the HttpRequest, and its
        # authentication sets ``user`` on both, so the resolver sees either.
        outcome = check_access(request, self.plans)
        if not isinstance(outcome, Denial):
            return True
        if outcome.code == "subscription_required":
            raise PaymentRequired
        if outcome.code == "plan_not_allowed":
            raise PlanNotAllowed
        if outcome.status == 403:  # signed in, but no billing account
            raise exceptions.PermissionDenied(outcome.message, code=outcome.code)
        return False  # nobody signed in: DRF answers NotAuthenticated or PermissionDenied
