"""Default pages for Stripe to send a customer back to, a host can override or replace.

The default ``SUCCESS_URL``, ``CANCEL_URL`` and ``PORTAL_RETURN_URL`` point
here (under the documented mount, ``/billing/``), so a project works before it
has pages of its own. Each renders a template of its own name under
``fiko_billing/pages/``: a project overrides the look by providing a template
of that name, or points the settings at its own pages.
"""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

#: What a Checkout Session id looks like; anything else is not put in the page.
SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")


def checkout_success(request: HttpRequest) -> HttpResponse:
    """After a payment: polls the checkout's status until its purchase is fulfilled."""
    session_id = request.GET.get("session_id", "")
    return render(
        request,
        "fiko_billing/pages/checkout_success.html",
        {"session_id": session_id if SESSION_ID.fullmatch(session_id) else None},
    )


def checkout_canceled(request: HttpRequest) -> HttpResponse:
    """The customer left Checkout without paying."""
    return render(request, "fiko_billing/pages/checkout_canceled.html")


def portal_return(request: HttpRequest) -> HttpResponse:
    """Back from the Stripe Customer Portal."""
    return render(request, "fiko_billing/pages/portal_return.html")
