"""The template context processor ``fiko_billing.context_processors.billing``."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from fiko_billing.entitlements import BillingState, billing_state, subscriber_for_request

__all__ = ["billing"]


def billing(request: HttpRequest) -> dict[str, BillingState]:
    """``billing``: the request subscriber's ``BillingState``, computed on first use.

    A template that never reads ``billing`` costs no query; one that does
    costs the resolver's queries plus two, however often it reads it.
    """
    state = SimpleLazyObject(lambda: billing_state(subscriber_for_request(request)))
    return {"billing": state}  # type: ignore[dict-item]  # a lazy BillingState
