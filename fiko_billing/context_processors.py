"""The template context processor ``fiko_billing.context_processors.billing``."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from fiko_billing.access import subscriber_for_request
from fiko_billing.api import Unresolved
from fiko_billing.entitlements import BillingState, billing_state

__all__ = ["billing"]


def billing(request: HttpRequest) -> dict[str, BillingState]:
    """``billing``: the request subscriber's ``BillingState``, computed on first use.

    Without a subscriber (nobody signed in, or no billing account) it is an
    inactive state with a balance of 0.

    A template that never reads ``billing`` costs no query; one that does
    costs the resolver's queries plus two, however often it reads it.
    """

    def state() -> BillingState:
        try:
            return billing_state(subscriber_for_request(request))
        except Unresolved:  # anonymous, or signed in without a billing account
            return billing_state(None)

    return {"billing": SimpleLazyObject(state)}  # type: ignore[dict-item]  # a lazy BillingState
