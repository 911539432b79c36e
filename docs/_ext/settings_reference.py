"""Sphinx extension: the settings reference, generated from the table of settings.

``fiko_billing.settings_table.SETTINGS`` declares every key of ``FIKO_BILLING``
once. When Sphinx reads ``settings.md``, the line ``<!-- settings-reference -->``
becomes the summary table (type, default, environment variable, secret), and
under every ``### `KEY` `` heading the line stating the key's type, default
and variable is written from the table. ``environment.md``'s line
``<!-- environment-reference -->`` becomes the table of environment variables.
A key of the table without a section, or a section for a key that is not in
the table, fails the build (``ExtensionError``), so the pages cannot drift
from the code; ``tests/test_settings_reference.py`` checks the same without
Sphinx.
"""

from __future__ import annotations

import json
import re
from typing import Any

SETTINGS_PAGE = "settings"
ENVIRONMENT_PAGE = "environment"
SETTINGS_MARKER = "<!-- settings-reference -->"
ENVIRONMENT_MARKER = "<!-- environment-reference -->"
SECTION = re.compile(r"^### `([A-Z][A-Z0-9_]*)`\n\n", re.M)


class ReferenceError_(Exception):
    """The settings pages and the table of settings disagree."""


def _settings() -> Any:
    from fiko_billing.settings_table import SETTINGS

    return SETTINGS


def _default(value: Any) -> str:
    if isinstance(value, str):
        return f"`{json.dumps(value)}`"
    return f"`{value!r}`"


def _anchor(name: str) -> str:
    return name.lower()


def summary_table() -> str:
    """One row per key, in the order of the table."""
    rows = [
        "| key | type | default | environment variable | secret |",
        "|---|---|---|---|---|",
    ]
    for setting in _settings():
        env = f"`{setting.env}`" if setting.env else "—"
        secret = "yes" if setting.secret else ""
        rows.append(
            f"| [`{setting.name}`](#{_anchor(setting.name)}) | {setting.type_doc} "
            f"| {_default(setting.default)} | {env} | {secret} |"
        )
    return "\n".join(rows)


def type_line(setting: Any) -> str:
    """The first line of a key's section: what it accepts and where it comes from."""
    parts = [f"Type {setting.type_doc}", f"default {_default(setting.default)}"]
    if setting.env:
        parts.append(f"environment variable `{setting.env}` ({setting.env_doc})")
    line = ", ".join(parts) + "."
    if setting.secret:
        line += " A secret: never shown in a message, a log line or a repr."
    return line


def environment_table() -> str:
    rows = ["| variable | setting | parsing |", "|---|---|---|"]
    for setting in _settings():
        if setting.env:
            rows.append(
                f"| `{setting.env}` | [`{setting.name}`](settings.md#{_anchor(setting.name)}) "
                f"| {setting.env_doc} |"
            )
    return "\n".join(rows)


def fill_settings(text: str) -> str:
    """``settings.md`` with the summary table and every section's type line written in."""
    if SETTINGS_MARKER not in text:
        raise ReferenceError_(f"{SETTINGS_PAGE}.md lacks the line {SETTINGS_MARKER}")
    by_name = {setting.name: setting for setting in _settings()}
    documented = SECTION.findall(text)
    problems = [f"no section for {name}" for name in by_name if name not in documented]
    problems += [f"a section for {name}, which is not a setting" for name in documented
                 if name not in by_name]  # fmt: skip
    problems += [f"two sections for {name}" for name in set(documented)
                 if documented.count(name) > 1]  # fmt: skip
    if problems:
        raise ReferenceError_("; ".join(sorted(problems)))

    def section(match: re.Match[str]) -> str:
        return f"{match.group(0)}{type_line(by_name[match.group(1)])}\n\n"

    return SECTION.sub(section, text.replace(SETTINGS_MARKER, summary_table()))


def fill_environment(text: str) -> str:
    if ENVIRONMENT_MARKER not in text:
        raise ReferenceError_(f"{ENVIRONMENT_PAGE}.md lacks the line {ENVIRONMENT_MARKER}")
    return text.replace(ENVIRONMENT_MARKER, environment_table())


def _fill(app: Any, docname: str, source: list[str]) -> None:
    fill = {SETTINGS_PAGE: fill_settings, ENVIRONMENT_PAGE: fill_environment}.get(docname)
    if fill is None:
        return
    from sphinx.errors import ExtensionError

    try:
        source[0] = fill(source[0])
    except ReferenceError_ as exc:
        raise ExtensionError(f"settings reference: {exc}") from exc


def _always_outdated(app: Any, env: Any, added: Any, changed: Any, removed: Any) -> list[str]:
    # The pages depend on the table, which Sphinx does not watch: read them every build.
    return [SETTINGS_PAGE, ENVIRONMENT_PAGE]


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", _fill)
    app.connect("env-get-outdated", _always_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
