"""The token ledger: accounts, entries and reservations, viewed but never edited in place.

A balance changes here only through the "Adjust tokens" action, which writes
adjustment entries through ``fiko_billing.tokens``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from fiko_billing import tokens
from fiko_billing.admin.common import (
    ACCOUNT_SUBSCRIBER_SEARCH,
    SUBSCRIBER_SEARCH,
    LedgerAdmin,
    TabularInline,
    admin_url,
)
from fiko_billing.forms import AdjustTokensForm
from fiko_billing.models import (
    TokenAccount,
    TokenAllocation,
    TokenEntry,
    TokenReservation,
)
from fiko_billing.subscribers import Subscriber

_M = TypeVar("_M", bound=models.Model)

#: The most accounts one adjustment may cover; their ids travel in the URL.
MAX_ADJUSTED_ACCOUNTS = 200


class AccountRowAdmin(LedgerAdmin[_M]):
    """Entries and reservations: rows of one account, listed with its subscriber."""

    @admin.display(description=_("subscriber"), ordering="account__subscriber")
    def subscriber(self, obj: TokenEntry | TokenReservation) -> str:
        return str(obj.account.subscriber)


class BalanceFilter(admin.SimpleListFilter):
    title = _("balance")
    parameter_name = "balance"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("debt", str(_("Negative (debt)"))),
            ("zero", str(_("Zero"))),
            ("positive", str(_("Positive"))),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        lookups = {
            "debt": {"balance__lt": 0},
            "zero": {"balance": 0},
            "positive": {"balance__gt": 0},
        }
        chosen = lookups.get(self.value() or "")
        return queryset if chosen is None else queryset.filter(**chosen)


class AdjustmentResubmitted(Exception):
    """The form's token was already used with other values."""


@dataclass(frozen=True)
class AdjustmentOutcome:
    account: TokenAccount
    balance: int
    applied: bool


@admin.register(TokenAccount)
class TokenAccountAdmin(LedgerAdmin[TokenAccount]):
    list_display = ("subscriber", "balance", "updated", "entries_link")
    list_filter = (BalanceFilter,)
    list_select_related = ("subscriber",)
    search_fields = SUBSCRIBER_SEARCH
    fields = (
        "subscriber",
        "balance",
        "holds_expire_at",
        "updated",
        "entries_link",
        "reservations_link",
    )
    readonly_fields = fields
    actions = ("adjust_tokens",)
    change_form_template = "fiko_billing/admin/tokenaccount_change_form.html"

    @admin.display(description=_("ledger"))
    def entries_link(self, obj: TokenAccount) -> SafeString:
        url = admin_url(self.admin_site, TokenEntry, "changelist")
        return format_html('<a href="{}?account__id__exact={}">{}</a>', url, obj.pk, _("Entries"))

    @admin.display(description=_("reservations"))
    def reservations_link(self, obj: TokenAccount) -> SafeString:
        url = admin_url(self.admin_site, TokenReservation, "changelist")
        return format_html(
            '<a href="{}?account__id__exact={}">{}</a>', url, obj.pk, _("Reservations")
        )

    def has_adjust_permission(self, request: HttpRequest) -> bool:
        # Adjusting is the one way a token account changes, so it takes the
        # model's change permission.
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_adjust"
        adjust = path("adjust/", self.admin_site.admin_view(self.adjust_view), name=name)
        return [adjust, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_adjust_tokens": self.has_adjust_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Adjust tokens of the selected accounts"), permissions=["adjust"])
    def adjust_tokens(
        self, request: HttpRequest, queryset: QuerySet[TokenAccount]
    ) -> HttpResponse | None:
        pks = list(
            queryset.order_by("pk").values_list("pk", flat=True)[: MAX_ADJUSTED_ACCOUNTS + 1]
        )
        if len(pks) > MAX_ADJUSTED_ACCOUNTS:
            self.message_user(
                request,
                _("Adjust at most %(max)d accounts at a time.") % {"max": MAX_ADJUSTED_ACCOUNTS},
                messages.ERROR,
            )
            return None
        url = admin_url(self.admin_site, TokenAccount, "adjust")
        return HttpResponseRedirect(f"{url}?ids={','.join(str(pk) for pk in pks)}")

    def adjust_view(self, request: HttpRequest) -> HttpResponse:
        """The intermediate page of the action: GET shows the form, POST applies it."""
        if not self.has_adjust_permission(request):
            raise PermissionDenied
        changelist_url = admin_url(self.admin_site, TokenAccount, "changelist")
        pks = _parse_ids(request.GET.get("ids", ""))
        # An erased subscriber's ledger is kept for the books only: nobody to adjust for.
        accounts = list(
            self.get_queryset(request)
            .filter(pk__in=pks, subscriber__isnull=False)
            .select_related("subscriber")
            .order_by("pk")
        )
        if not accounts:
            self.message_user(request, _("Select the token accounts to adjust."), messages.WARNING)
            return HttpResponseRedirect(changelist_url)

        form = AdjustTokensForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                outcomes = self._adjust(
                    request, accounts, data["amount"], data["reason"], data["token"]
                )
            except AdjustmentResubmitted:
                form.add_error(
                    None,
                    _(
                        "This form was already submitted with other values, and that "
                        "adjustment stands. Nothing was changed now; open the adjustment "
                        "again to make a new one."
                    ),
                )
            else:
                self._report(request, outcomes, data["amount"])
                if len(accounts) == 1:
                    return HttpResponseRedirect(
                        reverse(
                            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                            args=[accounts[0].pk],
                            current_app=self.admin_site.name,
                        )
                    )
                return HttpResponseRedirect(changelist_url)

        context = {
            **self.admin_site.each_context(request),
            "title": _("Adjust tokens"),
            "opts": self.opts,
            "form": form,
            "accounts": accounts,
            "cancel_url": changelist_url,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "fiko_billing/admin/adjust_tokens.html", context)

    def _adjust(
        self,
        request: HttpRequest,
        accounts: Sequence[TokenAccount],
        delta: int,
        reason: str,
        token: uuid.UUID,
    ) -> list[AdjustmentOutcome]:
        """Apply ``delta`` to every account, all or nothing, at most once per form token."""
        outcomes = []
        # Accounts are taken in primary-key order, so two overlapping
        # adjustments lock them in the same order and cannot deadlock.
        with transaction.atomic():
            for account in accounts:
                reference = f"admin-adjust:{token}:{account.pk}"
                # A resubmission of this form waits here until the first one has
                # committed, then finds its entry.
                stored = (
                    TokenAccount.objects.select_for_update()
                    .filter(pk=account.pk)
                    .values_list("balance", flat=True)
                    .get()
                )
                previous = TokenEntry.objects.filter(account=account, reference=reference).first()
                if previous is not None:
                    if previous.amount != delta or previous.description != reason:
                        raise AdjustmentResubmitted(reference)
                    outcomes.append(AdjustmentOutcome(account, stored, applied=False))
                    continue
                entry = tokens.adjust(
                    cast(Subscriber, account.subscriber), delta, reason=reason, reference=reference
                )
                account.balance = entry.balance_after
                self.log_change(
                    request,
                    account,
                    f"Adjusted tokens by {delta:+d} to a balance of {entry.balance_after} "
                    f"(reference {reference}). Reason: {reason}",
                )
                outcomes.append(AdjustmentOutcome(account, entry.balance_after, applied=True))
        return outcomes

    def _report(
        self, request: HttpRequest, outcomes: Sequence[AdjustmentOutcome], delta: int
    ) -> None:
        applied = [o for o in outcomes if o.applied]
        repeated = [o for o in outcomes if not o.applied]
        if applied:
            message = ngettext(
                "Adjusted %(count)d token account by %(delta)s tokens. New balance: %(balances)s.",
                "Adjusted %(count)d token accounts by %(delta)s tokens. New balances: "
                "%(balances)s.",
                len(applied),
            ) % {"count": len(applied), "delta": f"{delta:+d}", "balances": _balances(applied)}
            self.message_user(request, message, messages.SUCCESS)
        if repeated:
            message = ngettext(
                "This adjustment had already been applied to %(count)d account; nothing was "
                "written again. Balance: %(balances)s.",
                "This adjustment had already been applied to %(count)d accounts; nothing was "
                "written again. Balances: %(balances)s.",
                len(repeated),
            ) % {"count": len(repeated), "balances": _balances(repeated)}
            self.message_user(request, message, messages.WARNING)


def _parse_ids(raw: str) -> list[int]:
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    # At most 18 ASCII digits: every such number fits a 64-bit primary key.
    valid = all(p.isascii() and p.isdigit() and len(p) <= 18 for p in parts)
    if not parts or len(parts) > MAX_ADJUSTED_ACCOUNTS or not valid:
        return []
    return [int(part) for part in parts]


def _balances(outcomes: Sequence[AdjustmentOutcome]) -> str:
    return ", ".join(f"{o.account.subscriber}: {o.balance}" for o in outcomes)


class AllocationInline(TabularInline[TokenAllocation, TokenEntry]):
    """The credits a reservation drew from."""

    model = TokenAllocation
    fk_name = "debit"
    fields = ("grant", "amount")
    readonly_fields = fields
    extra = 0
    verbose_name = _("drawn from credit")
    verbose_name_plural = _("drawn from credits")

    def has_add_permission(self, request: HttpRequest, obj: TokenEntry | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: TokenEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TokenEntry | None = None) -> bool:
        return False


@admin.register(TokenEntry)
class TokenEntryAdmin(AccountRowAdmin[TokenEntry]):
    list_display = (
        "created",
        "subscriber",
        "kind",
        "signed_amount",
        "balance_after",
        "remaining",
        "expires_at",
        "reference",
        "description",
    )
    list_filter = ("kind",)
    list_select_related = ("account__subscriber",)
    search_fields = ("reference", "description", *ACCOUNT_SUBSCRIBER_SEARCH)
    date_hierarchy = "created"
    fields = (
        "account",
        "kind",
        "amount",
        "balance_after",
        "reference",
        "description",
        "grant",
        "expires_at",
        "remaining",
        "created",
    )
    readonly_fields = fields
    inlines = (AllocationInline,)

    @admin.display(description=_("amount"), ordering="amount")
    def signed_amount(self, obj: TokenEntry) -> str:
        return f"{obj.amount:+d}"


@admin.register(TokenReservation)
class TokenReservationAdmin(AccountRowAdmin[TokenReservation]):
    list_display = (
        "created",
        "subscriber",
        "amount",
        "settled_amount",
        "status",
        "reference",
        "expires_at",
        "closed_at",
        "description",
    )
    list_filter = ("status",)
    list_select_related = ("account__subscriber",)
    search_fields = ("reference", "description", *ACCOUNT_SUBSCRIBER_SEARCH)
    date_hierarchy = "created"
    fields = (
        "account",
        "amount",
        "settled_amount",
        "status",
        "reference",
        "description",
        "entry",
        "created",
        "expires_at",
        "closed_at",
    )
    readonly_fields = fields
