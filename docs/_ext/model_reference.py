"""Sphinx extension: the model reference page, generated from the models at build time.

``docs/models.md`` holds the prose and the line ``<!-- model-reference -->``;
when Sphinx reads that page, the line is replaced by one section per model of
``fiko_billing`` with a table of its fields: type, meaning (the field's
``help_text``, else its ``verbose_name``, and its choices) and who writes it.
Who writes what is the one thing a model cannot say about itself, so it is
declared in ``WRITERS`` below; a model missing there, or an entry naming a
field that no longer exists, fails the build (``ExtensionError``), so the page
cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- model-reference -->"
PAGE = "models"

#: Per model: who writes its rows, and the fields someone else writes.
WRITERS: dict[str, tuple[str, dict[str, str]]] = {
    "Product": (
        "you, in the admin or from code (as a `Plan` or a `TokenPackage`)",
        {"stripe_product_id": "`sync_stripe_products`"},
    ),
    "Plan": (
        "you, in the admin or from code",
        {"stripe_product_id": "`sync_stripe_products`"},
    ),
    "TokenPackage": (
        "you, in the admin or from code",
        {"stripe_product_id": "`sync_stripe_products`"},
    ),
    "Price": (
        "you, in the admin or from code",
        {"stripe_price_id": "`sync_stripe_products`"},
    ),
    "Customer": (
        "the first checkout (once per subscriber, race-safe)",
        {
            "stripe_customer_id": "checkout; cleared by the `customer.deleted` webhook",
            "deleted_at": "the `customer.deleted` webhook; cleared by the next checkout",
        },
    ),
    "Subscription": (
        "one service (`services.subscription_state`), called by the webhook handlers, "
        "the `subscription/` endpoints, fulfilment and `check_subscription_status`",
        {"canceled_as_duplicate_of": "the duplicate-subscription safety net"},
    ),
    "Payment": (
        "checkout (a pending row), then the webhook handlers and "
        "`GET stripe/checkout-session/<id>/` (fulfilment, refunds, disputes)",
        {},
    ),
    "WebhookEvent": (
        "the webhook endpoint and `sync_stripe_events` (intake)",
        {
            "status": "event processing (the webhook, a task or `process_webhook_events`)",
            "attempts": "event processing",
            "failures": "event processing",
            "waiting_for": "event processing",
            "last_error": "event processing",
            "processed_at": "event processing",
        },
    ),
    "InvoicePayment": ("the `invoice_payment.paid` webhook handler", {}),
    "Charge": ("the `charge.*` webhook handlers", {}),
    "Refund": (
        "the `charge.refunded` and `refund.*` webhook handlers; "
        "the duplicate-subscription safety net",
        {},
    ),
    "Dispute": ("the `charge.dispute.*` webhook handlers", {}),
    "RejectedEvent": ("the webhook endpoint, for a signed body it cannot store", {}),
    "TokenAccount": ("`fiko_billing.tokens` only", {}),
    "TokenEntry": ("`fiko_billing.tokens` only", {}),
    "TokenReservation": ("`fiko_billing.tokens` only", {}),
    "TokenAllocation": ("`fiko_billing.tokens` only", {}),
}

AUTOMATIC = "automatic"


class ReferenceError_(Exception):
    """The model reference cannot be generated: ``WRITERS`` and the models disagree."""


def _setup_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        # The models only: no database is touched, no project settings are needed.
        settings.configure(
            INSTALLED_APPS=[
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "fiko_billing",
            ],
            DATABASES={},
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            USE_I18N=True,
        )
    django.setup()


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _field_type(field: Any) -> str:
    from django.db import models

    from fiko_billing.subscribers import get_subscriber_model

    if field.is_relation:
        target = field.related_model
        name = (
            "the subscriber model" if target is get_subscriber_model() else f"`{target.__name__}`"
        )
        kind = "one-to-one" if isinstance(field, models.OneToOneField) else "foreign key"
        text = f"{kind} to {name}"
    elif isinstance(field, models.CharField | models.TextField) and not isinstance(
        field, models.URLField
    ):
        text = f"text (max. {field.max_length})" if field.max_length else "text"
    else:
        text = {
            "AutoField": "integer, primary key",
            "BigAutoField": "integer, primary key",
            "BooleanField": "boolean",
            "DateTimeField": "date and time",
            "JSONField": "JSON",
            "URLField": "URL",
            "PositiveIntegerField": "integer ≥ 0",
            "PositiveBigIntegerField": "integer ≥ 0",
            "BigIntegerField": "integer",
            "IntegerField": "integer",
            "AutoCreatedField": "date and time",
            "AutoLastModifiedField": "date and time",
        }.get(type(field).__name__, type(field).__name__)
    flags = []
    if field.unique and not field.primary_key:
        flags.append("unique")
    if not field.primary_key and (
        field.null or (field.blank and not isinstance(field, models.BooleanField))
    ):
        flags.append("optional")
    return ", ".join([text, *flags])


def _meaning(field: Any) -> str:
    text = str(field.verbose_name)
    text = text[:1].upper() + text[1:]
    if field.help_text:
        text = f"{text}: {field.help_text}"
    if field.choices:
        options = ", ".join(f"`{value}` ({label})" for value, label in field.choices)
        text = f"{text.rstrip('.')}. One of {options}."
    return _cell(text)


def _writer(field: Any, default: str, overrides: dict[str, str]) -> str:
    if field.name in overrides:
        return overrides[field.name]
    automatic = (
        field.primary_key
        or getattr(field, "auto_now", False)
        or getattr(field, "auto_now_add", False)
        or type(field).__name__ in ("AutoCreatedField", "AutoLastModifiedField")
    )
    return AUTOMATIC if automatic else default


def render() -> str:
    """The Markdown of every model's section, in the order of the app's models."""
    from django.apps import apps
    from django.utils import translation

    with translation.override(None):  # the source language, whatever is active
        return _render(apps)


def _render(apps: Any) -> str:
    models = list(apps.get_app_config("fiko_billing").get_models())
    names = {model.__name__ for model in models}
    problems = [f"{name} is in WRITERS but is not a model" for name in set(WRITERS) - names]
    problems += [f"{name} has no entry in WRITERS" for name in sorted(names - set(WRITERS))]
    out: list[str] = []
    for model in models:
        if model.__name__ not in WRITERS:
            continue
        default, overrides = WRITERS[model.__name__]
        fields = [f for f in model._meta.get_fields() if f.concrete]
        problems += [
            f"WRITERS[{model.__name__!r}] names {name!r}, which is not one of its fields"
            for name in sorted(set(overrides) - {f.name for f in fields})
        ]
        doc = (model.__doc__ or "").strip().split("\n\n")[0]
        out += [
            f"### {model.__name__}",
            "",
            f"`fiko_billing.models.{model.__name__}`, *{model._meta.verbose_name}*. {_cell(doc)}",
            "",
            f"Written by {default}.",
            "",
            "| field | type | meaning | written by |",
            "|---|---|---|---|",
        ]
        for field in fields:
            column = field.column if field.is_relation else field.name
            out.append(
                f"| `{column}` | {_field_type(field)} | {_meaning(field)} "
                f"| {_writer(field, default, overrides)} |"
            )
        out.append("")
    if problems:
        raise ReferenceError_("; ".join(problems))
    return "\n".join(out)


def _fill(app: Any, docname: str, source: list[str]) -> None:
    if docname != PAGE:
        return
    from sphinx.errors import ExtensionError

    if MARKER not in source[0]:
        raise ExtensionError(f"{PAGE}.md lacks the line {MARKER}")
    _setup_django()
    try:
        source[0] = source[0].replace(MARKER, render())
    except ReferenceError_ as exc:
        raise ExtensionError(f"model reference: {exc}") from exc


def _always_outdated(app: Any, env: Any, added: Any, changed: Any, removed: Any) -> list[str]:
    # The page depends on the models, which Sphinx does not watch: read it every build.
    return [PAGE]


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", _fill)
    app.connect("env-get-outdated", _always_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
