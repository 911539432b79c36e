"""The local catalogue: subscription plans, token packages and their prices.

The catalogue is defined here and pushed to Stripe by ``sync_stripe_products``;
Stripe ids are stored back on the rows.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from model_utils.models import TimeStampedModel

from fiko_billing.models.fields import CurrencyField
from fiko_billing.money import currency_problem, format_amount, minimum_charge


class Interval(models.TextChoices):
    MONTH = "month", _("Monthly")
    YEAR = "year", _("Yearly")


class CatalogueItem(TimeStampedModel):
    """What plans and token packages share."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive items cannot be bought.")
    )
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    stripe_product_id = models.CharField(
        _("Stripe product id"), max_length=255, unique=True, null=True, blank=True, editable=False
    )

    class Meta:
        abstract = True
        ordering = ("sort_order", "pk")

    def __str__(self) -> str:
        return self.name


class Plan(CatalogueItem):
    """A subscription plan, billed every month or year, granting tokens each period."""

    interval = models.CharField(
        _("billing interval"), max_length=5, choices=Interval.choices, default=Interval.MONTH
    )
    tokens_per_period = models.PositiveIntegerField(
        _("tokens per period"),
        default=0,
        help_text=_("Tokens granted each paid period; they expire at the period's end."),
    )

    class Meta(CatalogueItem.Meta):
        verbose_name = _("subscription plan")
        verbose_name_plural = _("subscription plans")
        constraints = [
            models.CheckConstraint(
                condition=Q(interval__in=Interval.values), name="fiko_plan_interval_valid"
            ),
        ]


class TokenPackage(CatalogueItem):
    """A pack of prepaid tokens, bought once or on a recurring basis."""

    tokens = models.PositiveIntegerField(_("tokens"), validators=[MinValueValidator(1)])
    interval = models.CharField(
        _("recurring interval"),
        max_length=5,
        choices=Interval.choices,
        blank=True,
        default="",
        help_text=_("Leave empty for a one-time purchase."),
    )

    class Meta(CatalogueItem.Meta):
        verbose_name = _("token package")
        verbose_name_plural = _("token packages")
        constraints = [
            models.CheckConstraint(
                condition=Q(tokens__gte=1), name="fiko_package_tokens_positive"
            ),
            models.CheckConstraint(
                condition=Q(interval="") | Q(interval__in=Interval.values),
                name="fiko_package_interval_valid",
            ),
        ]

    @property
    def recurring(self) -> bool:
        return bool(self.interval)


class Price(TimeStampedModel):
    """The price of one plan or token package in one currency, in minor units."""

    plan = models.ForeignKey(
        Plan, on_delete=models.CASCADE, related_name="prices", null=True, blank=True
    )
    package = models.ForeignKey(
        TokenPackage, on_delete=models.CASCADE, related_name="prices", null=True, blank=True
    )
    currency = CurrencyField(_("currency"))
    unit_amount = models.PositiveIntegerField(
        _("amount"),
        help_text=_(
            "In the currency's minor unit: cents for USD, yen for JPY. At least Stripe's "
            "minimum charge for the currency (0.50 USD, 50 JPY, …); a plan may also be free (0)."
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    stripe_price_id = models.CharField(
        _("Stripe price id"), max_length=255, unique=True, null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ("currency", "pk")
        constraints = [
            models.CheckConstraint(
                condition=(Q(plan__isnull=False) & Q(package__isnull=True))
                | (Q(plan__isnull=True) & Q(package__isnull=False)),
                name="fiko_price_one_item",
                violation_error_message=_("A price belongs to exactly one plan or package."),
            ),
            models.CheckConstraint(
                condition=Q(unit_amount__gte=0), name="fiko_price_amount_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(currency=Lower("currency")),
                name="fiko_price_currency_lower_case",
                violation_error_message=_("The currency is stored in lower case."),
            ),
            models.UniqueConstraint(
                fields=("plan", "currency"),
                condition=Q(plan__isnull=False),
                name="fiko_price_unique_plan_currency",
                violation_error_message=_("This plan already has a price in that currency."),
            ),
            models.UniqueConstraint(
                fields=("package", "currency"),
                condition=Q(package__isnull=False),
                name="fiko_price_unique_package_currency",
                violation_error_message=_("This package already has a price in that currency."),
            ),
        ]

    def __str__(self) -> str:
        item = self.plan or self.package
        return f"{item}: {self.display}"

    def clean(self) -> None:
        """Stripe's minimum charge: a package's price must reach it, a plan's may also be 0."""
        super().clean()
        if self.unit_amount is None or currency_problem(self.currency) is not None:
            return  # the field's own validation reports these
        least = minimum_charge(self.currency)
        free_plan = self.plan_id is not None and self.unit_amount == 0
        if self.unit_amount < least and not free_plan:
            raise ValidationError(
                {
                    "unit_amount": ValidationError(
                        _(
                            "Stripe charges at least %(minimum)s in %(currency)s; "
                            "%(amount)s is below that."
                        ),
                        code="below_minimum_charge",
                        params={
                            "minimum": format_amount(least, self.currency),
                            "currency": self.currency.upper(),
                            "amount": format_amount(self.unit_amount, self.currency),
                        },
                    )
                }
            )

    @property
    def item(self) -> Plan | TokenPackage:
        item = self.plan or self.package
        assert item is not None  # noqa: S101 - guaranteed by fiko_price_one_item
        return item

    @property
    def display(self) -> str:
        return format_amount(self.unit_amount, self.currency)
