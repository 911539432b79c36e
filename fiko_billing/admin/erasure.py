"""The admin action behind a privacy request: "Erase billing data" of selected customers."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from fiko_billing.gateway import StripeGatewayError
from fiko_billing.models import Customer
from fiko_billing.services.erasure import erase_subscriber
from fiko_billing.subscribers import Subscriber


class ErasureActionMixin:
    """Adds ``erase_billing_data`` to the customers' admin, behind a confirmation page.

    The action takes the model's delete permission: it removes what links
    billing rows to a person, as deleting would, while keeping the rows.
    """

    def has_erase_permission(self, request: HttpRequest) -> bool:
        opts = Customer._meta
        codename = get_permission_codename("delete", opts)
        return bool(request.user.has_perm(f"{opts.app_label}.{codename}"))

    @admin.action(
        description=_("Erase billing data of the selected customers"), permissions=["erase"]
    )
    def erase_billing_data(
        self, request: HttpRequest, queryset: QuerySet[Customer]
    ) -> HttpResponse | None:
        customers = list(queryset.filter(subscriber__isnull=False).select_related("subscriber"))
        model_admin: Any = self
        if request.POST.get("post") != "yes":
            return TemplateResponse(
                request,
                "fiko_billing/admin/erase_billing_data.html",
                {
                    **model_admin.admin_site.each_context(request),
                    "title": _("Erase billing data"),
                    "opts": Customer._meta,
                    "customers": customers,
                    "queryset": queryset,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        delete_in_stripe = request.POST.get("delete_stripe_customer") == "on"
        erased = 0
        for customer in customers:
            try:
                erase_subscriber(
                    cast(Subscriber, customer.subscriber), delete_stripe_customer=delete_in_stripe
                )
            except StripeGatewayError as exc:
                model_admin.message_user(
                    request,
                    _(
                        "%(subscriber)s: Stripe failed (%(error)s); nothing more was "
                        "changed for it."
                    )
                    % {"subscriber": customer.subscriber, "error": exc.user_message},
                    messages.ERROR,
                )
                continue
            model_admin.log_change(request, customer, "Erased billing data (privacy request).")
            erased += 1
        if erased:
            model_admin.message_user(
                request,
                ngettext(
                    "Erased the billing data of %(count)d subscriber.",
                    "Erased the billing data of %(count)d subscribers.",
                    erased,
                )
                % {"count": erased},
                messages.SUCCESS,
            )
        return None
