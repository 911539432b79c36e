"""The catalogue: plans, token packages and their prices, edited here and pushed to Stripe."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from fiko_billing.admin.common import ModelAdmin, TabularInline
from fiko_billing.forms import PlanForm, PriceForm, PriceInlineFormSet, TokenPackageForm
from fiko_billing.models import Plan, Price, Product, TokenPackage
from fiko_billing.money import format_amount


class PriceInline(TabularInline[Price, Any]):
    model = Price
    fk_name = "product"
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


# The names the inlines had while plans and packages were two tables.
PlanPriceInline = PackagePriceInline = PriceInline

_Item = TypeVar("_Item", bound=Product)


class CatalogueItemAdmin(ModelAdmin[_Item]):
    list_filter = ("active", "interval")
    search_fields = ("name", "description", "stripe_product_id")
    readonly_fields = ("stripe_product_id", "created", "modified")
    inlines = (PriceInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[_Item]:
        # One query for the prices of the whole page.
        return super().get_queryset(request).prefetch_related("prices")

    @admin.display(description=_("prices"))
    def price_list(self, obj: _Item) -> str:
        prices = obj.prices.all()
        return ", ".join(
            price.display if price.active else _("%(price)s (inactive)") % {"price": price.display}
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
        "tokens",
        "active",
        "sort_order",
        "stripe_product_id",
        "created",
        "modified",
    )
    form = PlanForm

    @admin.display(description=_("tokens per period"), ordering="tokens")
    def tokens_per_period(self, obj: Plan) -> int:
        return obj.tokens


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
    form = TokenPackageForm

    @admin.display(description=_("billing"), ordering="interval")
    def billing(self, obj: TokenPackage) -> str:
        return obj.get_interval_display() if obj.interval else str(_("One-time"))


@admin.register(Price)
class PriceAdmin(ModelAdmin[Price]):
    form = PriceForm
    list_display = ("item_name", "currency", "amount", "active", "stripe_price_id")
    list_filter = ("active", "currency")
    list_select_related = ("product",)
    search_fields = ("stripe_price_id", "product__name")
    readonly_fields = ("stripe_price_id", "created", "modified")

    def get_readonly_fields(self, request: HttpRequest, obj: Price | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # A price stays with its item; another item gets a price of its own.
            fields[:0] = ["product"]
        return fields

    @admin.display(description=_("plan or package"))
    def item_name(self, obj: Price) -> str:
        return str(obj.product)

    @admin.display(description=_("amount"), ordering="unit_amount")
    def amount(self, obj: Price) -> str:
        return format_amount(obj.unit_amount, obj.currency)
