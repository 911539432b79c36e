"""Read ``example_project/.env`` into the environment, without overriding it.

A ``KEY=VALUE`` per line; blank lines and ``#`` comments are skipped, and a
value may be wrapped in single or double quotes. Variables already set in the
environment win, so ``STRIPE_SECRET_KEY=... make demo`` still works.
"""

from __future__ import annotations

import os
from pathlib import Path


def load_env_file(path: Path) -> None:
    if not path.is_file():
        return
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise ValueError(f"{path}:{number}: expected KEY=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(name, value)
