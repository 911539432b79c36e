"""Template context of every demo page."""

from __future__ import annotations

from types import ModuleType

from django.http import HttpRequest

from demo import hints as demo_hints


def hints(request: HttpRequest) -> dict[str, ModuleType]:
    """The login, test cards and promotion code the pages show."""
    return {"hints": demo_hints}
