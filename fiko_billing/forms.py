"""Forms of the admin: catalogue prices and manual token adjustments."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django import forms
from django.forms.formsets import DELETION_FIELD_NAME
from django.utils.translation import gettext_lazy as _

from fiko_billing.models import Plan, Price, TokenPackage

#: The largest adjustment the admin accepts either way: far above any real
#: correction, far below what would overflow a balance.
MAX_ADJUSTMENT = 10**12


if TYPE_CHECKING:
    _PriceFormBase = forms.ModelForm[Price]
    _PlanFormBase = forms.ModelForm[Plan]
    _PackageFormBase = forms.ModelForm[TokenPackage]
    _PriceFormSetBase = forms.BaseInlineFormSet[Price, Any, forms.ModelForm[Price]]
else:
    # Django's form classes are generic only in the type stubs.
    _PriceFormBase = forms.ModelForm
    _PlanFormBase = _PackageFormBase = forms.ModelForm
    _PriceFormSetBase = forms.BaseInlineFormSet


class PriceForm(_PriceFormBase):
    """The price of one product in one currency."""

    #: Currencies whose existing price is deleted in the same submission; set
    #: by ``PriceInlineFormSet`` so a new price may take the currency over.
    freed_currencies: frozenset[str] = frozenset()

    class Meta:
        model = Price
        fields = ("product", "currency", "unit_amount", "active")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # The model's per-currency unique check would find the price this
        # submission deletes; the formset's clean() checks the submission.
        self.instance.currency_freed = cleaned.get("currency") in self.freed_currencies
        return cleaned


class _KindForm:
    """A plan or a token package: the kind's rules say whether an interval is required."""

    fields: dict[str, forms.Field]
    _meta: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = getattr(self._meta.model, "KIND", None)
        if "interval" in self.fields and kind is not None and kind.rules.always_recurring:
            self.fields["interval"].required = True


class PlanForm(_KindForm, _PlanFormBase):
    class Meta:
        model = Plan
        fields = ("name", "description", "interval", "tokens", "active", "sort_order")
        labels = {"tokens": _("tokens per period")}
        help_texts = {
            "tokens": _("Tokens granted each paid period; they expire at the period's end."),
        }


class TokenPackageForm(_KindForm, _PackageFormBase):
    class Meta:
        model = TokenPackage
        fields = ("name", "description", "tokens", "interval", "active", "sort_order")
        labels = {"interval": _("recurring interval")}
        help_texts = {
            "tokens": _("Tokens credited for each package bought; they never expire."),
            "interval": _("Leave empty for a one-time purchase."),
        }


class PriceInlineFormSet(_PriceFormSetBase):
    """The prices of one product: at most one per currency.

    The database enforces this with a unique constraint, which Django's
    formsets do not check across the forms of one submission.
    """

    def full_clean(self) -> None:
        freed = frozenset(
            str(form.initial.get("currency"))
            for form in self.initial_forms
            if self.can_delete and form[DELETION_FIELD_NAME].value()
        )
        for form in self.forms:
            form.freed_currencies = freed  # type: ignore[attr-defined]
        super().full_clean()

    def clean(self) -> None:
        # Before Django's own unique checks, which would say the same less clearly.
        self._check_one_price_per_currency()
        super().clean()

    def _check_one_price_per_currency(self) -> None:
        seen: set[str] = set()
        for form in self.forms:
            cleaned = getattr(form, "cleaned_data", {})
            if not form.has_changed() and form.instance.pk is None:
                continue
            if self.can_delete and cleaned.get(DELETION_FIELD_NAME):
                continue
            currency = cleaned.get("currency")
            if currency in seen:
                raise forms.ValidationError(
                    _("Each currency can have only one price; %(currency)s appears twice.")
                    % {"currency": currency.upper()},
                    code="duplicate_currency",
                )
            if currency:
                seen.add(currency)


class AdjustTokensForm(forms.Form):
    """A manual correction of one or more token balances.

    ``token`` is generated when the form is first shown and travels with it,
    so submitting the same form twice names the same ledger references and the
    second submission changes nothing.
    """

    amount = forms.IntegerField(
        label=_("Tokens"),
        min_value=-MAX_ADJUSTMENT,
        max_value=MAX_ADJUSTMENT,
        help_text=_("Positive adds tokens, negative takes them back (a debt is allowed)."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Stored with each ledger entry and in the admin history."),
    )
    confirm = forms.BooleanField(
        label=_("I have checked the accounts and the amount."),
        error_messages={"required": _("Tick the box to confirm the adjustment.")},
    )
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("token", uuid.uuid4())

    def clean_amount(self) -> int:
        amount: int = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("Enter a number other than zero."), code="zero")
        return amount
