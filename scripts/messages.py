#!/usr/bin/env python3
"""The translation catalogues of fiko_billing: extract, update, check and compile them.

    python scripts/messages.py extract   # write fiko_billing/locale/django.pot from the source
    python scripts/messages.py update    # merge the .pot into every django.po (new, changed)
    python scripts/messages.py check     # exit 1 if the .pot is stale or a .po incomplete
    python scripts/messages.py compile   # write the django.mo beside every django.po

Pure Python (Babel, plus Django's own template-to-gettext converter for
``{% translate %}`` tags), so it runs on any machine that can install the
package, without GNU gettext. The wheel build (``hatch_build.py``) and the
test suite compile with ``compile_catalogues``; ``.mo`` files are build
outputs and never committed.

Not extracted: the emulator (a stand-in for Stripe, in English like Stripe's
test mode), the migrations, and ``fiko_billing.testing``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fiko_billing"
LOCALE = PACKAGE / "locale"
POT = LOCALE / "django.pot"
DOMAIN = "django"
SKIPPED = ("emulator", "migrations", "testing", "locale")
HEADER = """\
# Messages of fiko-billing, to translate.
# This file is distributed under the same license as the fiko-billing project.
#"""

#: Django's gettext functions and the positions of their message arguments.
KEYWORDS: dict[str, Any] = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}


def _sources() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in SKIPPED or "__pycache__" in relative.parts:
            continue
        if path.suffix in (".py", ".html", ".txt"):
            yield path


def _template_as_python(path: Path) -> bytes:
    from django.utils.translation.template import templatize

    return templatize(path.read_text(encoding="utf-8"), origin=str(path)).encode("utf-8")


def extract() -> Any:
    """A Babel ``Catalog`` of every message marked in the package's sources."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract as babel_extract

    from fiko_billing import __version__

    catalog = Catalog(
        project="fiko-billing",
        version=__version__,
        copyright_holder="fiko-billing contributors",
        msgid_bugs_address="https://github.com/fiko/fiko-billing/issues",
        header_comment=HEADER,
        domain=DOMAIN,
        charset="utf-8",
        fuzzy=False,
    )
    if POT.exists():
        # Dates in the header would change the file on every run; keep the first.
        catalog.creation_date = _read(POT).creation_date
    for path in _sources():
        data = _template_as_python(path) if path.suffix != ".py" else path.read_bytes()
        relative = path.relative_to(ROOT).as_posix()
        for lineno, message, comments, context in babel_extract(
            "python", io.BytesIO(data), keywords=KEYWORDS, comment_tags=("Translators:",)
        ):
            catalog.add(
                message,
                None,
                [(relative, lineno)],
                auto_comments=comments,
                context=context,
            )
    return catalog


def _po_paths() -> list[Path]:
    return sorted(LOCALE.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def _read(path: Path) -> Any:
    from babel.messages.pofile import read_po

    locale = path.parent.parent.name if path.suffix == ".po" else None
    with path.open("rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN)


def _write(path: Path, catalog: Any) -> None:
    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    # No line numbers: the catalogue changes when messages do, not when code moves.
    write_po(buffer, catalog, width=99, include_lineno=False, omit_header=False)
    text = buffer.getvalue()
    if not path.exists() or path.read_bytes() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text)


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def _keys(catalog: Any) -> set[tuple[Any, Any]]:
    return {(message.id, message.context) for message in catalog if message.id}


def write_template() -> None:
    _write(POT, extract())


def update() -> None:
    template = extract()
    _write(POT, template)
    for path in _po_paths():
        catalog = _read(path)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        _write(path, catalog)


def problems() -> list[str]:
    """What keeps the catalogues from being complete and current; empty when they are."""
    found: list[str] = []
    template = extract()
    if not POT.exists():
        return [f"{_shown(POT)} is missing: run scripts/messages.py update"]
    committed = _read(POT)
    if _keys(committed) != _keys(template):
        added = sorted(str(k[0]) for k in _keys(template) - _keys(committed))
        removed = sorted(str(k[0]) for k in _keys(committed) - _keys(template))
        found.append(
            f"{_shown(POT)} does not match the source (new: {added[:5]}, "
            f"gone: {removed[:5]}): run scripts/messages.py update"
        )
    if not _po_paths():
        found.append("no translation (locale/<language>/LC_MESSAGES/django.po)")
    for path in _po_paths():
        name = _shown(path)
        catalog = _read(path)
        if _keys(catalog) != _keys(template):
            found.append(f"{name} does not have the messages of the source: run update")
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy or not all(strings):
                found.append(f"{name}: {message.id!r} is not translated")
            for error in message.check(catalog):
                found.append(f"{name}: {message.id!r}: {error}")
        if catalog.obsolete:
            found.append(f"{name} keeps obsolete messages: run update")
    return found


def compile_catalogues(output: Path | None = None) -> list[Path]:
    """Compile every ``django.po`` into a ``django.mo``, under ``output`` or beside it.

    Rewrites a ``.mo`` only when it is missing or older than its ``.po``.
    Returns the ``.mo`` paths.
    """
    from babel.messages.mofile import write_mo

    written = []
    for path in _po_paths():
        target = path.with_suffix(".mo")
        if output is not None:
            target = output / path.relative_to(LOCALE).with_suffix(".mo")
        if not target.exists() or target.stat().st_mtime < path.stat().st_mtime:
            target.parent.mkdir(parents=True, exist_ok=True)
            catalog = _read(path)
            with target.open("wb") as handle:
                write_mo(handle, catalog, use_fuzzy=False)
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure()  # templatize() reads no setting, but Django must be importable
        django.setup()
    command = argv[1] if len(argv) > 1 else ""
    if command == "extract":
        write_template()
    elif command == "update":
        update()
    elif command == "compile":
        for path in compile_catalogues():
            print(path.relative_to(ROOT))
    elif command == "check":
        found = problems()
        for problem in found:
            print(problem)
        print(f"{len(found)} problem(s)" if found else "catalogues complete and current")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
