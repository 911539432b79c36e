"""``{% load fiko_billing %}``: the billing state of any subscriber in a template."""

from __future__ import annotations

from django import template

from fiko_billing.entitlements import BillingState
from fiko_billing.entitlements import billing_state as _billing_state

register = template.Library()


@register.simple_tag(name="billing_state")
def billing_state_tag(subscriber: object | None) -> BillingState:
    """``{% billing_state subscriber as state %}``: plan, status, period end, balance.

    Two queries per use; for the request's own subscriber the ``billing``
    context processor computes it once per request instead.
    """
    return _billing_state(subscriber)
