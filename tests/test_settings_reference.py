"""docs/settings.md and docs/environment.md list exactly the table of settings."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from fiko_billing.settings_table import SETTINGS, Setting

DOCS = Path(__file__).resolve().parent.parent / "docs"

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is not part of this checkout")


def _extension():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "settings_reference", DOCS / "_ext" / "settings_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


settings_reference = _extension()


def table_rows(markdown: str, first_column: str) -> list[list[str]]:
    lines = markdown.split(f"| {first_column} |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_the_settings_page_lists_every_setting_of_the_table_in_its_order() -> None:
    page = settings_reference.fill_settings((DOCS / "settings.md").read_text())
    rows = table_rows(page, "key")
    assert [re.match(r"\[`(\w+)`\]", row[0]).group(1) for row in rows] == [  # type: ignore[union-attr]
        setting.name for setting in SETTINGS
    ]
    for row, setting in zip(rows, SETTINGS, strict=True):
        assert row[3] == (f"`{setting.env}`" if setting.env else "—")
        assert row[4] == ("yes" if setting.secret else "")
    sections = re.findall(r"^### `(\w+)`\n\n(Type [^\n]*)", page, re.M)
    assert [name for name, _line in sections] == [setting.name for setting in SETTINGS]
    for (_name, line), setting in zip(sections, SETTINGS, strict=True):
        assert line == settings_reference.type_line(setting)


def test_the_page_holds_no_hand_written_type_line() -> None:
    source = (DOCS / "settings.md").read_text()
    assert re.findall(r"^### `\w+`\n\nType", source, re.M) == []


def test_the_environment_page_lists_every_variable_of_the_table() -> None:
    page = settings_reference.fill_environment((DOCS / "environment.md").read_text())
    rows = table_rows(page, "variable")
    assert [(row[0], row[1].split("]")[0]) for row in rows] == [
        (f"`{s.env}`", f"[`{s.name}`") for s in SETTINGS if s.env
    ]


def test_the_public_names_are_those_the_docs_promise() -> None:
    assert {s.name: s.env for s in SETTINGS if s.env} == {
        "ENABLED": "STRIPE_ENABLED",
        "TEST_MODE": "STRIPE_TEST_MODE",
        "STRIPE_SECRET_KEY": "STRIPE_SECRET_KEY",
        "STRIPE_PUBLISHABLE_KEY": "STRIPE_PUBLISHABLE_KEY",
        "STRIPE_WEBHOOK_SECRET": "STRIPE_WEBHOOK_SECRET",
        "CURRENCY": "STRIPE_CURRENCY",
    }


def test_a_setting_without_a_section_or_a_section_without_a_setting_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = (DOCS / "settings.md").read_text()
    added = (*SETTINGS, Setting("NEW_KEY", (int,), 1))
    monkeypatch.setattr(settings_reference, "_settings", lambda: added)
    with pytest.raises(settings_reference.ReferenceError_, match="no section for NEW_KEY"):
        settings_reference.fill_settings(source)
    monkeypatch.setattr(settings_reference, "_settings", lambda: SETTINGS[1:])
    with pytest.raises(
        settings_reference.ReferenceError_, match="a section for ENABLED, which is not a setting"
    ):
        settings_reference.fill_settings(source)
