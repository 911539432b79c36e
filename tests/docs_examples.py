"""The Python examples of README.md and docs/*.md, read from their fenced blocks.

A block runs as it is written unless the line before its fence is a marker
comment naming what it is:

- ``<!-- example: settings -->``: a fragment of a project's settings.py;
- ``<!-- example: fragment -->``: code that lives in a host project's app
  (a models.py, a view's body) and only makes sense there;
- ``<!-- example: signature -->``: a function's signature, as the reference
  shows it (not Python): the function must exist with those parameters;
- ``<!-- example: pytest -->``: a test module, run by pytest in a host
  project that installed ``fiko-billing[testing]``.

Settings and fragments are compiled, so a syntax error still fails; every
function a signature names must exist; pytest examples run in a throwaway
host project; every other block runs (tests/test_docs_examples.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("run", "settings", "fragment", "signature", "pytest")

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*example:\s*(?P<kind>[a-z]+)\s*-->\s*$")


@dataclass(frozen=True)
class Example:
    path: Path
    line: int  # of the opening fence, 1-based
    kind: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def examples_in(path: Path) -> list[Example]:
    """Every ``python`` block of one Markdown file, with the kind its marker gives."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Example] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != opening["fence"]:
            end += 1
        if opening["info"].strip().split(" ")[0] == "python":
            marker = _MARKER.match(lines[index - 1]) if index else None
            kind = marker["kind"] if marker else "run"
            indent = len(opening["indent"])
            code = "\n".join(line[indent:] for line in lines[index + 1 : end]) + "\n"
            found.append(Example(path, index + 1, kind, code))
        index = end + 1
    return found


def all_examples() -> list[Example]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [example for page in pages for example in examples_in(page)]
