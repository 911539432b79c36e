"""The Django admin of fiko_billing.

The catalogue (plans, token packages, prices) is edited here and pushed to
Stripe by ``sync_stripe_products``. What Stripe owns (customers,
subscriptions, payments, webhook events) is shown read-only: Stripe is the
source of truth and webhooks keep those rows current. The token ledger is
never edited in place; a balance changes here only through the "Adjust
tokens" action, which writes adjustment entries through ``fiko_billing.tokens``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
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
from fiko_billing.forms import AdjustTokensForm, PriceForm, PriceInlineFormSet
from fiko_billing.models import (
    Customer,
    Payment,
    Plan,
    Price,
    Subscription,
    TokenAccount,
    TokenAllocation,
    TokenEntry,
    TokenPackage,
    TokenReservation,
    WebhookEvent,
)
from fiko_billing.models.catalogue import CatalogueItem
from fiko_billing.money import format_amount
from fiko_billing.subscribers import get_subscriber_model

_M = TypeVar("_M", bound=models.Model)

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin, TabularInline
else:
    # Django's admin classes are generic only in the type stubs.
    class ModelAdmin(admin.ModelAdmin):
        def __class_getitem__(cls, _params: object) -> type:
            return cls

    class TabularInline(admin.TabularInline):
        def __class_getitem__(cls, _params: object) -> type:
            return cls


#: The most accounts one adjustment may cover; their ids travel in the URL.
MAX_ADJUSTED_ACCOUNTS = 200

_SUBSCRIBER_TEXT_FIELDS = ("username", "email", "name", "first_name", "last_name")


def subscriber_search_fields(prefix: str) -> tuple[str, ...]:
    """``search_fields`` entries for the subscriber model's identifying text fields.

    The subscriber model is swappable, so the fields are looked up rather than
    assumed: a user has a username and an e-mail, an organisation a name.
    """
    model = get_subscriber_model()
    candidates = (
        getattr(model, "USERNAME_FIELD", None),
        getattr(model, "EMAIL_FIELD", None),
        *_SUBSCRIBER_TEXT_FIELDS,
    )
    names: list[str] = []
    for name in candidates:
        if not isinstance(name, str) or name in names:
            continue
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if isinstance(field, models.CharField | models.TextField):
            names.append(name)
    return tuple(f"{prefix}{name}" for name in names)


SUBSCRIBER_SEARCH = subscriber_search_fields("subscriber__")
ACCOUNT_SUBSCRIBER_SEARCH = subscriber_search_fields("account__subscriber__")


def _admin_url(admin_site: admin.AdminSite, model: type[models.Model], view: str) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", current_app=admin_site.name)


# --------------------------------------------------------------------------- catalogue


class PriceInline(TabularInline[Price, Any]):
    model = Price
    form = PriceForm
    formset = PriceInlineFormSet
    fields = ("currency", "unit_amount", "formatted_amount", "active", "stripe_price_id")
    readonly_fields = ("formatted_amount", "stripe_price_id")
    extra = 0

    @admin.display(description=_("formatted"))
    def formatted_amount(self, obj: Price) -> str | None:
        if obj.unit_amount is None or not obj.currency:
            return None
        return obj.display


class PlanPriceInline(PriceInline):
    fk_name = "plan"


class PackagePriceInline(PriceInline):
    fk_name = "package"


_Item = TypeVar("_Item", bound=CatalogueItem)


class CatalogueItemAdmin(ModelAdmin[_Item]):
    list_filter = ("active", "interval")
    search_fields = ("name", "description", "stripe_product_id")
    readonly_fields = ("stripe_product_id", "created", "modified")

    def get_queryset(self, request: HttpRequest) -> QuerySet[_Item]:
        # One query for the prices of the whole page.
        return super().get_queryset(request).prefetch_related("prices")

    @admin.display(description=_("prices"))
    def price_list(self, obj: _Item) -> str:
        prices: Sequence[Price] = obj.prices.all()  # type: ignore[attr-defined]
        return ", ".join(
            price.display if price.active else f"{price.display} ({_('inactive')})"
            for price in prices
        )


@admin.register(Plan)
class PlanAdmin(CatalogueItemAdmin[Plan]):
    list_display = (
        "name",
        "interval",
        "tokens_per_period",
        "price_list",
        "active",
        "stripe_product_id",
    )
    fields = (
        "name",
        "description",
        "interval",
        "tokens_per_period",
        "active",
        "sort_order",
        "stripe_product_id",
        "created",
        "modified",
    )
    inlines = (PlanPriceInline,)


@admin.register(TokenPackage)
class TokenPackageAdmin(CatalogueItemAdmin[TokenPackage]):
    list_display = (
        "name",
        "tokens",
        "billing",
        "price_list",
        "active",
        "stripe_product_id",
    )
    fields = (
        "name",
        "description",
        "tokens",
        "interval",
        "active",
        "sort_order",
        "stripe_product_id",
        "created",
        "modified",
    )
    inlines = (PackagePriceInline,)

    @admin.display(description=_("billing"), ordering="interval")
    def billing(self, obj: TokenPackage) -> str:
        return obj.get_interval_display() if obj.interval else str(_("One-time"))


@admin.register(Price)
class PriceAdmin(ModelAdmin[Price]):
    form = PriceForm
    list_display = ("item_name", "currency", "amount", "active", "stripe_price_id")
    list_filter = ("active", "currency")
    list_select_related = ("plan", "package")
    search_fields = ("stripe_price_id", "plan__name", "package__name")
    readonly_fields = ("stripe_price_id", "created", "modified")

    def get_readonly_fields(self, request: HttpRequest, obj: Price | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # A price stays with its item; another item gets a price of its own.
            fields[:0] = ["plan", "package"]
        return fields

    @admin.display(description=_("plan or package"))
    def item_name(self, obj: Price) -> str:
        return str(obj.item)

    @admin.display(description=_("amount"), ordering="unit_amount")
    def amount(self, obj: Price) -> str:
        return format_amount(obj.unit_amount, obj.currency)


# --------------------------------------------------------------------------- mirrored from Stripe


class MirroredAdmin(ModelAdmin[_M]):
    """Rows that mirror Stripe: viewable, never created or edited here.

    ``readonly_fields`` lists every field anyway, so a subclass that allows
    changes still cannot overwrite what Stripe owns.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(MirroredAdmin[Customer]):
    list_display = ("subscriber", "stripe_customer_id", "livemode", "deleted_at", "created")
    list_filter = ("livemode", ("deleted_at", admin.EmptyFieldListFilter))
    list_select_related = ("subscriber",)
    search_fields = ("stripe_customer_id", *SUBSCRIBER_SEARCH)
    date_hierarchy = "created"
    readonly_fields = (
        "subscriber",
        "stripe_customer_id",
        "livemode",
        "deleted_at",
        "created",
        "modified",
    )


@admin.register(Subscription)
class SubscriptionAdmin(MirroredAdmin[Subscription]):
    list_display = (
        "stripe_subscription_id",
        "subscriber",
        "item",
        "status",
        "quantity",
        "current_period_end",
        "cancel_at_period_end",
        "livemode",
    )
    list_filter = ("status", "cancel_at_period_end", "livemode", "plan", "package")
    list_select_related = ("subscriber", "plan", "package")
    search_fields = (
        "stripe_subscription_id",
        "customer__stripe_customer_id",
        *SUBSCRIBER_SEARCH,
    )
    date_hierarchy = "created"
    readonly_fields = (
        "subscriber",
        "customer",
        "stripe_subscription_id",
        "status",
        "livemode",
        "plan",
        "package",
        "price",
        "quantity",
        "current_period_start",
        "current_period_end",
        "trial_end",
        "cancel_at_period_end",
        "cancel_at",
        "canceled_at",
        "ended_at",
        "stripe_state_at",
        "created",
        "modified",
    )
    fieldsets = (
        (None, {"fields": ("subscriber", "customer", "stripe_subscription_id", "status")}),
        (_("Item"), {"fields": ("plan", "package", "price", "quantity")}),
        (_("Period"), {"fields": ("current_period_start", "current_period_end", "trial_end")}),
        (
            _("Cancellation"),
            {"fields": ("cancel_at_period_end", "cancel_at", "canceled_at", "ended_at")},
        ),
        (_("Synchronisation"), {"fields": ("livemode", "stripe_state_at", "created", "modified")}),
    )

    @admin.display(description=_("plan or package"))
    def item(self, obj: Subscription) -> str | None:
        item = obj.plan or obj.package
        return None if item is None else str(item)


@admin.register(Payment)
class PaymentAdmin(MirroredAdmin[Payment]):
    list_display = (
        "created",
        "subscriber",
        "kind",
        "item",
        "amount_display",
        "refunded_display",
        "status",
        "tokens",
        "livemode",
    )
    list_filter = ("status", "kind", "currency", "livemode")
    list_select_related = ("subscriber", "plan", "package")
    search_fields = (
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "stripe_invoice_id",
        "stripe_charge_id",
        *SUBSCRIBER_SEARCH,
    )
    date_hierarchy = "created"
    readonly_fields = (
        "subscriber",
        "kind",
        "status",
        "plan",
        "package",
        "subscription",
        "quantity",
        "amount",
        "amount_refunded",
        "currency",
        "amount_display",
        "refunded_display",
        "tokens",
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "stripe_invoice_id",
        "stripe_charge_id",
        "hosted_invoice_url",
        "failure_message",
        "fulfilled_at",
        "livemode",
        "created",
        "modified",
    )
    fieldsets = (
        (None, {"fields": ("subscriber", "kind", "status", "failure_message")}),
        (
            _("Item"),
            {"fields": ("plan", "package", "subscription", "quantity", "tokens", "fulfilled_at")},
        ),
        (
            _("Amount"),
            {
                "fields": (
                    "amount_display",
                    "refunded_display",
                    "amount",
                    "amount_refunded",
                    "currency",
                )
            },
        ),
        (
            _("Stripe"),
            {
                "fields": (
                    "stripe_checkout_session_id",
                    "stripe_payment_intent_id",
                    "stripe_invoice_id",
                    "stripe_charge_id",
                    "hosted_invoice_url",
                    "livemode",
                    "created",
                    "modified",
                )
            },
        ),
    )

    @admin.display(description=_("plan or package"))
    def item(self, obj: Payment) -> str | None:
        item = obj.plan or obj.package
        return None if item is None else str(item)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return format_amount(obj.amount, obj.currency)

    @admin.display(description=_("refunded"), ordering="amount_refunded")
    def refunded_display(self, obj: Payment) -> str | None:
        if not obj.amount_refunded:
            return None
        return format_amount(obj.amount_refunded, obj.currency)


@admin.register(WebhookEvent)
class WebhookEventAdmin(MirroredAdmin[WebhookEvent]):
    list_display = (
        "stripe_event_id",
        "type",
        "status",
        "attempts",
        "stripe_created",
        "received_at",
        "processed_at",
        "livemode",
    )
    list_filter = ("status", "type", "livemode")
    search_fields = ("stripe_event_id", "type")
    date_hierarchy = "stripe_created"
    readonly_fields = (
        "stripe_event_id",
        "type",
        "api_version",
        "livemode",
        "payload",
        "pretty_payload",
        "status",
        "attempts",
        "last_error",
        "stripe_created",
        "received_at",
        "processed_at",
    )
    fieldsets = (
        (
            None,
            {"fields": ("stripe_event_id", "type", "api_version", "livemode", "stripe_created")},
        ),
        (
            _("Processing"),
            {"fields": ("status", "attempts", "last_error", "received_at", "processed_at")},
        ),
        (_("Payload"), {"fields": ("pretty_payload",)}),
    )

    @admin.display(description=_("payload"))
    def pretty_payload(self, obj: WebhookEvent) -> SafeString:
        text = json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="fiko-billing-payload">{}</pre>', text)


# --------------------------------------------------------------------------- token ledger


class LedgerAdmin(ModelAdmin[_M]):
    """Ledger rows are written by ``fiko_billing.tokens`` only; here they are viewed."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False


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
    fields = ("subscriber", "balance", "updated", "entries_link", "reservations_link")
    readonly_fields = fields
    actions = ("adjust_tokens",)
    change_form_template = "fiko_billing/admin/tokenaccount_change_form.html"

    @admin.display(description=_("ledger"))
    def entries_link(self, obj: TokenAccount) -> SafeString:
        url = _admin_url(self.admin_site, TokenEntry, "changelist")
        return format_html('<a href="{}?account__id__exact={}">{}</a>', url, obj.pk, _("Entries"))

    @admin.display(description=_("reservations"))
    def reservations_link(self, obj: TokenAccount) -> SafeString:
        url = _admin_url(self.admin_site, TokenReservation, "changelist")
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
        url = _admin_url(self.admin_site, TokenAccount, "adjust")
        return HttpResponseRedirect(f"{url}?ids={','.join(str(pk) for pk in pks)}")

    def adjust_view(self, request: HttpRequest) -> HttpResponse:
        """The intermediate page of the action: GET shows the form, POST applies it."""
        if not self.has_adjust_permission(request):
            raise PermissionDenied
        changelist_url = _admin_url(self.admin_site, TokenAccount, "changelist")
        pks = _parse_ids(request.GET.get("ids", ""))
        accounts = list(
            self.get_queryset(request)
            .filter(pk__in=pks)
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
                    account.subscriber, delta, reason=reason, reference=reference
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
        "closed_at",
    )
    readonly_fields = fields
