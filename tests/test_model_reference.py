"""docs/models.md is generated from the models; nothing in it can drift from them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from django.apps import apps

DOCS = Path(__file__).resolve().parent.parent / "docs"

_spec = importlib.util.spec_from_file_location(
    "model_reference", DOCS / "_ext" / "model_reference.py"
)
assert _spec is not None
assert _spec.loader is not None
model_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_reference)

MODELS = list(apps.get_app_config("fiko_billing").get_models())

#: Fields whose name and verbose name say it all; every other field needs a help_text.
SELF_EXPLANATORY = {
    "id",
    "created",
    "modified",
    "name",
    "subscriber",
    "currency",
    "kind",
    "status",
    "stripe_subscription_id",
    "stripe_payment_intent_id",
    "current_period_start",
    "description",
    "type",
    "account",
    "customer",
    "interval",
    "received_at",
    "last_received_at",
}


def rows(markdown: str, model: str) -> dict[str, list[str]]:
    section = markdown.split(f"### {model}\n", 1)[1].split("\n### ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `")]
    return {
        cells[0].strip("` "): [c.strip() for c in cells[1:]]
        for cells in (re.split(r"(?<!\\)\|", line)[1:-1] for line in table)
    }


def test_every_field_of_every_model_is_described_with_type_meaning_and_writer():
    markdown = model_reference.render()

    assert [m.__name__ for m in MODELS] == re.findall(r"^### (\w+)$", markdown, re.M)
    for model in MODELS:
        described = rows(markdown, model.__name__)
        fields = [f for f in model._meta.get_fields() if f.concrete]
        assert list(described) == [f.column if f.is_relation else f.name for f in fields]
        for name, (kind, meaning, writer) in described.items():
            assert all((kind, meaning, writer)), f"{model.__name__}.{name}"


def test_rows_say_what_the_models_say():
    markdown = model_reference.render()

    payment = rows(markdown, "Payment")
    assert payment["amount"] == [
        "integer ≥ 0",
        "Amount: What was charged, in the currency's minor unit.",
        "checkout (a pending row), then the webhook handlers and "
        "`GET stripe/checkout-session/<id>/` (fulfilment, refunds, disputes)",
    ]
    assert payment["subscriber_id"][0] == "foreign key to the subscriber model, optional"
    assert payment["created"][2] == "automatic"
    plan = rows(markdown, "Plan")
    assert plan["stripe_product_id"][0] == "text (max. 255), unique, optional"
    assert plan["stripe_product_id"][2] == "`sync_stripe_products`"
    assert plan["interval"][1] == (
        "Billing interval: How often a subscription to it is billed; a plan needs one, "
        "a token package without one is bought once. One of `month` (Monthly), `year` (Yearly)."
    )
    assert rows(markdown, "Product")["kind"][1] == (
        "Kind. One of `full` (Subscription plan), `token` (Token package)."
    )
    assert rows(markdown, "Price")["product_id"][0] == "foreign key to `Product`"
    assert "`past_due` (Past due)" in rows(markdown, "Subscription")["status"][1]


def test_every_field_whose_meaning_is_not_obvious_has_a_help_text():
    missing = [
        f"{model.__name__}.{field.name}"
        for model in MODELS
        for field in model._meta.get_fields()
        if field.concrete and not field.help_text and field.name not in SELF_EXPLANATORY
    ]

    assert missing == []


def test_a_model_without_writers_fails_the_build(monkeypatch):
    writers = dict(model_reference.WRITERS)
    del writers["Payment"]
    monkeypatch.setattr(model_reference, "WRITERS", writers)

    with pytest.raises(model_reference.ReferenceError_, match="Payment has no entry"):
        model_reference.render()


def test_a_writer_for_a_field_that_is_gone_fails_the_build(monkeypatch):
    default, overrides = model_reference.WRITERS["Plan"]
    writers = {**model_reference.WRITERS, "Plan": (default, {**overrides, "price_cents": "x"})}
    monkeypatch.setattr(model_reference, "WRITERS", writers)

    with pytest.raises(model_reference.ReferenceError_, match="'price_cents'"):
        model_reference.render()


def test_the_page_has_the_marker_and_points_at_the_retention_policy():
    page = (DOCS / "models.md").read_text(encoding="utf-8")

    assert page.count(model_reference.MARKER) == 1
    assert "## Data retention and account deletion" in page
    assert "(security.md#data-retention-and-account-deletion)" in page
