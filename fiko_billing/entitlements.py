"""What a subscriber is entitled to: its plan, until when, and its billing state.

Every function reads the local mirror of Stripe (no Stripe call) in a fixed
number of queries: ``entitlement`` and ``has_active_plan`` one, ``billing_state``
two. A subscriber is entitled while its plan subscription is in one of
``fiko_billing.models.ENTITLED_STATUSES`` (``active``, ``trialing``, and
``past_due`` while Stripe retries the payment).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from fiko_billing import tokens
from fiko_billing.models import Plan, Product, Subscription
from fiko_billing.subscribers import Subscriber, as_foreign_key, ensure_subscriber
from fiko_billing.vocabulary import PLAN_KINDS

__all__ = [
    "BillingState",
    "Entitlement",
    "PlanSelector",
    "billing_state",
    "entitlement",
    "has_active_plan",
]

#: Plans a view accepts: ``Plan`` instances, primary keys (``int``) or names (``str``).
PlanSelector: TypeAlias = Collection["Plan | int | str"]

#: ``status`` of an ``Entitlement`` without a plan subscription.
NO_PLAN = "none"


@dataclass(frozen=True, slots=True)
class Entitlement:
    """A subscriber's current plan, as far as access to features is concerned.

    ``active`` is true while the subscriber holds a plan subscription in an
    entitled status; ``plan`` is then that plan and ``current_period_end`` the
    moment the paid period ends (it renews then unless
    ``cancel_at_period_end``). Without one, ``plan`` and
    ``current_period_end`` are ``None`` and ``status`` is ``"none"``. The
    object is true exactly when ``active`` is.
    """

    active: bool
    plan: Plan | None
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    subscription: Subscription | None

    def __bool__(self) -> bool:
        return self.active

    def allows(self, plans: PlanSelector | None = None) -> bool:
        """Whether the entitlement is active and its plan one of ``plans`` (any when ``None``)."""
        if not self.active or self.plan is None:
            return False
        if plans is None:
            return True
        return any(_matches(self.plan, wanted) for wanted in plans)

    @classmethod
    def of(cls, subscription: Subscription | None) -> Entitlement:
        if subscription is None or subscription.plan is None or not subscription.is_entitled:
            return cls(False, None, NO_PLAN, None, False, None)
        return cls(
            active=True,
            plan=subscription.plan,
            status=subscription.status,
            current_period_end=subscription.current_period_end,
            cancel_at_period_end=(
                subscription.cancel_at_period_end or subscription.cancel_at is not None
            ),
            subscription=subscription,
        )


def _matches(plan: Plan, wanted: Plan | int | str) -> bool:
    if isinstance(wanted, Product):
        return plan.pk == wanted.pk
    if isinstance(wanted, bool):  # a bool is an int; never a plan's key
        raise TypeError("plans must be Plan instances, primary keys or names, not bool")
    if isinstance(wanted, int):
        return plan.pk == wanted
    if isinstance(wanted, str):
        return plan.name == wanted
    raise TypeError(
        f"plans must be Plan instances, primary keys or names, not {type(wanted).__name__}"
    )


def _current(subscriber: Subscriber) -> Subscription | None:
    return (
        Subscription.objects.entitled()
        .filter(subscriber=as_foreign_key(subscriber), product__kind__in=PLAN_KINDS)
        .select_related("product")
        .order_by("-current_period_end", "-pk")
        .first()
    )


def entitlement(subscriber: object) -> Entitlement:
    """The subscriber's current plan entitlement. One query.

    With several entitled plan subscriptions (which checkout prevents), the
    one whose period ends last counts, as on the ``account/`` endpoint.
    Raises ``TypeError`` for anything but a saved instance of the subscriber
    model.
    """
    return Entitlement.of(_current(ensure_subscriber(subscriber)))


def has_active_plan(subscriber: object, *, plans: PlanSelector | None = None) -> bool:
    """Whether the subscriber holds an active plan (one of ``plans`` if given). One query."""
    return entitlement(subscriber).allows(plans)


@dataclass(frozen=True, slots=True)
class BillingState:
    """What a page shows of a subscriber's billing: plan, status, period end, tokens.

    ``subscriber`` is ``None`` for a request without one (anonymous); the
    state is then inactive with a balance of 0.
    """

    subscriber: Subscriber | None
    entitlement: Entitlement
    token_balance: int

    @property
    def active(self) -> bool:
        return self.entitlement.active

    @property
    def plan(self) -> Plan | None:
        return self.entitlement.plan

    @property
    def status(self) -> str:
        return self.entitlement.status

    @property
    def current_period_end(self) -> datetime | None:
        return self.entitlement.current_period_end

    @property
    def cancel_at_period_end(self) -> bool:
        return self.entitlement.cancel_at_period_end


def billing_state(subscriber: object | None) -> BillingState:
    """The billing state of ``subscriber`` (two queries; none for ``None``)."""
    if subscriber is None:
        return BillingState(None, Entitlement.of(None), 0)
    checked = ensure_subscriber(subscriber)
    return BillingState(checked, entitlement(checked), tokens.balance(checked))
