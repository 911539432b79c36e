"""The demo's one page: the catalogue with its prices, and the visitor's token balance."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from fiko_billing import tokens
from fiko_billing.models import Plan, Price, TokenPackage


def _active_prices() -> Prefetch[Price]:
    return Prefetch("prices", queryset=Price.objects.filter(active=True), to_attr="active_prices")


def billing_overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "plans": Plan.objects.filter(active=True).prefetch_related(_active_prices()),
        "packages": TokenPackage.objects.filter(active=True).prefetch_related(_active_prices()),
        "balance": tokens.balance(user) if user.is_authenticated else None,
    }
    return render(request, "demo/billing.html", context)
