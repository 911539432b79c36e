"""What the admin modules share: typed base classes, subscriber search, URLs, read-only bases."""

from __future__ import annotations

from typing import TypeVar

import django_stubs_ext
from django.contrib import admin
from django.contrib.admin import ModelAdmin as ModelAdmin
from django.contrib.admin import TabularInline as TabularInline
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.http import HttpRequest
from django.urls import reverse

from fiko_billing.subscribers import get_subscriber_model

# Django's admin classes are generic only in the type stubs; this makes
# ``ModelAdmin[Model]`` (re-exported above for the other admin modules) work
# at run time too.
django_stubs_ext.monkeypatch()

_M = TypeVar("_M", bound=models.Model)


_SUBSCRIBER_TEXT_FIELDS = ("username", "email", "name", "first_name", "last_name")


def subscriber_search_fields(prefix: str) -> tuple[str, ...]:
    """``search_fields`` entries for the subscriber model's identifying text fields.

    The subscriber model is swappable, so the fields are looked up rather than
    assumed: a user has a username and an e-mail, an organisation a name.
    """
    try:
        model = get_subscriber_model()
    except ImproperlyConfigured:
        # The system check fiko_billing.E011 says what is wrong with the setting.
        return ()
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


def admin_url(admin_site: admin.AdminSite, model: type[models.Model], view: str) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", current_app=admin_site.name)


class MirroredAdmin(ModelAdmin[_M]):
    """Rows that mirror Stripe: viewable, never created or edited here.

    ``readonly_fields`` lists every field anyway, so a subclass that allows
    changes still cannot overwrite what Stripe owns.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False


class LedgerAdmin(ModelAdmin[_M]):
    """Ledger rows are written by ``fiko_billing.tokens`` only; here they are viewed."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False
