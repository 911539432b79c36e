"""The local catalogue: products (subscription plans, token packages) and their prices.

The catalogue is one table, ``Product``, whose ``kind`` says what is sold;
what a kind decides lives in ``fiko_billing.vocabulary``. ``Plan`` and
``TokenPackage`` are the same table seen through one kind (proxy models), so
``Plan.objects`` holds plans only and a product loaded from the database is a
``Plan`` or a ``TokenPackage``. Prices, subscriptions and payments point at
one product.

The catalogue is defined here and pushed to Stripe by ``sync_stripe_products``;
Stripe ids are stored back on the rows.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any, ClassVar, Self, TypeVar

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from model_utils.models import TimeStampedModel

from fiko_billing.models.fields import CurrencyField
from fiko_billing.money import currency_problem, format_amount, minimum_charge
from fiko_billing.vocabulary import (
    ITEM_METADATA_KEY,
    RULES,
    ProductKind,
    StripeMode,
    encode_item,
)


class Interval(models.TextChoices):
    MONTH = "month", _("Monthly")
    YEAR = "year", _("Yearly")


def _kind_constraints() -> list[models.BaseConstraint]:
    """The checks each kind's rules ask of a row, generated from ``vocabulary.RULES``."""
    recurring = [kind.value for kind, rules in RULES.items() if rules.always_recurring]
    constraints: list[models.BaseConstraint] = [
        models.CheckConstraint(
            condition=Q(kind__in=ProductKind.values), name="fiko_product_kind_valid"
        ),
        models.CheckConstraint(
            condition=Q(interval__in=Interval.values) | (Q(interval="") & ~Q(kind__in=recurring)),
            name="fiko_product_interval_valid",
        ),
    ]
    constraints += [
        models.CheckConstraint(
            condition=~Q(kind=kind.value) | Q(tokens__gte=rules.min_tokens),
            name=f"fiko_product_{kind.value}_tokens_minimum",
        )
        for kind, rules in RULES.items()
        if rules.min_tokens > 0
    ]
    return constraints


_P = TypeVar("_P", bound="Product")


class KindManager(models.Manager[_P]):
    """The products of one kind: the default manager of ``Plan`` and ``TokenPackage``."""

    def get_queryset(self) -> models.QuerySet[_P]:
        queryset = super().get_queryset()
        kind = getattr(self.model, "KIND", None)
        return queryset if kind is None else queryset.filter(kind=kind)


class Product(TimeStampedModel):
    """Something sold: a subscription plan or a token package, as ``kind`` says."""

    #: The kind a proxy class stands for; ``None`` on ``Product`` itself.
    KIND: ClassVar[ProductKind | None] = None

    kind = models.CharField(_("kind"), max_length=10, choices=ProductKind.choices)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(
        _("description"),
        blank=True,
        help_text=_("Shown to customers in the catalogue and pushed to the Stripe product."),
    )
    interval = models.CharField(
        _("billing interval"),
        max_length=5,
        choices=Interval.choices,
        blank=True,
        default="",
        help_text=_(
            "How often a subscription to it is billed; a plan needs one, a token package "
            "without one is bought once."
        ),
    )
    tokens = models.PositiveIntegerField(
        _("tokens"),
        default=0,
        help_text=_(
            "Tokens granted per unit: a plan's allowance for each paid period (it expires "
            "at the period's end), or the tokens of each package bought (they never expire)."
        ),
    )
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive items cannot be bought.")
    )
    sort_order = models.PositiveIntegerField(
        _("sort order"), default=0, help_text=_("Lower numbers are listed first.")
    )
    stripe_product_id = models.CharField(
        _("Stripe product id"),
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text=_("Set by sync_stripe_products; empty until the item is pushed to Stripe."),
    )

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ("sort_order", "pk")
        constraints = _kind_constraints()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not args and self.KIND is not None and not self.kind:
            # Plan(...) and TokenPackage(...) are products of their kind.
            self.kind = self.KIND
            if self.KIND.rules.always_recurring and "interval" not in kwargs:
                self.interval = Interval.MONTH

    @classmethod
    def from_db(
        cls,
        db: str | None,
        field_names: Collection[str],
        values: Collection[Any],
        **kwargs: Any,
    ) -> Self:
        # A product comes back as its kind's class, wherever it is loaded from
        # (a price's product is a Plan or a TokenPackage).
        klass: type[Self] = cls
        names = list(field_names)
        if "kind" in names:
            kind = list(values)[names.index("kind")]
            klass = _proxies().get(kind, cls)  # type: ignore[assignment]
        return super(Product, klass).from_db(db, field_names, values, **kwargs)

    def __str__(self) -> str:
        return self.name

    @property
    def product_kind(self) -> ProductKind:
        return ProductKind(self.kind)

    @property
    def recurring(self) -> bool:
        """Whether it is sold as a subscription (Checkout's subscription mode)."""
        return bool(self.interval)

    @property
    def stripe_mode(self) -> StripeMode:
        return StripeMode.SUBSCRIPTION if self.recurring else StripeMode.PAYMENT

    @property
    def metadata(self) -> dict[str, str]:
        """The metadata that names it on a Stripe object."""
        return {ITEM_METADATA_KEY: encode_item(self.kind, self.pk)}

    def tokens_for(self, quantity: int) -> int:
        """The tokens ``quantity`` units grant (for a plan: each period)."""
        return self.tokens * quantity


class Plan(Product):
    """A subscription plan, billed every month or year, granting tokens each period."""

    KIND = ProductKind.FULL

    objects: ClassVar[KindManager[Plan]] = KindManager()  # type: ignore[assignment]

    class Meta:
        proxy = True
        verbose_name = _("subscription plan")
        verbose_name_plural = _("subscription plans")

    @property
    def tokens_per_period(self) -> int:
        """The plan's allowance each paid period (the product's ``tokens``)."""
        return self.tokens

    @tokens_per_period.setter
    def tokens_per_period(self, value: int) -> None:
        self.tokens = value


class TokenPackage(Product):
    """A pack of prepaid tokens, bought once or on a recurring basis."""

    KIND = ProductKind.TOKEN

    objects: ClassVar[KindManager[TokenPackage]] = KindManager()  # type: ignore[assignment]

    class Meta:
        proxy = True
        verbose_name = _("token package")
        verbose_name_plural = _("token packages")


@functools.cache
def _proxies() -> dict[str, type[Product]]:
    """The class a product of each kind is loaded as: the proxy that names the kind."""
    return {sub.KIND: sub for sub in Product.__subclasses__() if sub.KIND is not None}


class SoldProduct:
    """A row about one product (``product``), readable as ``plan`` or ``package`` as before.

    ``plan`` is the product if it is a plan, else ``None``; ``package`` likewise
    for token packages. Both may be passed to the constructor (``plan=...``).
    """

    product: Any
    product_id: Any

    def _product_of(self, kind: ProductKind) -> Any:
        if self.product_id is None:
            return None
        product = self.product
        return product if product.kind == kind else None

    def _set_product(self, kind: ProductKind, value: Product | None) -> None:
        if value is None:
            if self._product_of(kind) is not None:
                self.product = None
            return
        if value.kind != kind or (self.product_id is not None and self.product.kind != kind):
            # One product per row: plan=... and package=... together name two.
            raise ValueError(f"{type(self).__name__} is about one product; set product instead")
        self.product = value

    @property
    def plan(self) -> Plan | None:
        return self._product_of(ProductKind.FULL)  # type: ignore[no-any-return]

    @plan.setter
    def plan(self, value: Product | None) -> None:
        self._set_product(ProductKind.FULL, value)

    @property
    def package(self) -> TokenPackage | None:
        return self._product_of(ProductKind.TOKEN)  # type: ignore[no-any-return]

    @package.setter
    def package(self, value: Product | None) -> None:
        self._set_product(ProductKind.TOKEN, value)

    @property
    def plan_id(self) -> int | None:
        plan = self.plan
        return None if plan is None else plan.pk

    @property
    def package_id(self) -> int | None:
        package = self.package
        return None if package is None else package.pk


class Price(SoldProduct, TimeStampedModel):
    """The price of one product in one currency, in minor units."""

    product = models.ForeignKey(
        Product,
        on_delete=models.CASCADE,
        related_name="prices",
        verbose_name=_("product"),
        help_text=_("The plan or token package sold at this price."),
    )
    currency = CurrencyField(
        _("currency"),
        help_text=_("An ISO 4217 code that Stripe supports, stored in lower case, such as 'usd'."),
    )
    unit_amount = models.PositiveIntegerField(
        _("amount"),
        help_text=_(
            "In the currency's minor unit: cents for USD, yen for JPY. At least Stripe's "
            "minimum charge for the currency (0.50 USD, 50 JPY, …); a plan may also be free (0)."
        ),
    )
    active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Inactive prices are not offered; subscriptions already on them go on."),
    )
    stripe_price_id = models.CharField(
        _("Stripe price id"),
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Set by sync_stripe_products, which creates a new Stripe price when the amount "
            "changes (Stripe prices cannot change)."
        ),
    )

    #: Set by the admin's price form when this currency's other price is
    #: deleted in the same submission: the unique check per currency is then
    #: the formset's (which sees the deletion) and the database's.
    currency_freed = False

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ("currency", "pk")
        constraints = [
            models.CheckConstraint(
                condition=Q(unit_amount__gte=0), name="fiko_price_amount_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(currency=Lower("currency")),
                name="fiko_price_currency_lower_case",
                violation_error_message=_("The currency is stored in lower case."),
            ),
            models.UniqueConstraint(
                fields=("product", "currency"),
                name="fiko_price_unique_product_currency",
                violation_error_message=_("This product already has a price in that currency."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product}: {self.display}"

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        if self.currency_freed:
            exclude = {*(exclude or ()), "currency"}
        super().validate_constraints(exclude=exclude)

    def clean(self) -> None:
        """Stripe's minimum charge: a price must reach it, unless its kind may be free (0)."""
        super().clean()
        if self.unit_amount is None or currency_problem(self.currency) is not None:
            return  # the field's own validation reports these
        least = minimum_charge(self.currency)
        product = self.product if self.product_id is not None else None
        free = product is not None and product.product_kind.rules.may_be_free
        if self.unit_amount < least and not (free and self.unit_amount == 0):
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
    def item(self) -> Product:
        """The product sold (kept under its earlier name)."""
        return self.product

    @property
    def display(self) -> str:
        return format_amount(self.unit_amount, self.currency)
