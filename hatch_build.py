"""Build hook: compile the translation catalogues (``.po`` -> ``.mo``) into the wheel.

Compiled catalogues are build outputs, so they are not in git or the sdist;
every wheel (and every editable install, ``pip install -e .``) compiles them
here with Babel, which is pure Python: no GNU gettext is needed on the
building machine. The compiling itself lives in ``scripts/messages.py``,
shared with the test suite.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _messages_module(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fiko_billing_messages", root / "scripts" / "messages.py"
    )
    assert spec is not None  # noqa: S101
    assert spec.loader is not None  # noqa: S101
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CompileMessagesHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        messages = _messages_module(Path(self.root))
        if version == "editable":
            # The editable install imports the source tree: compile in place.
            messages.compile_catalogues()
            return
        self._output = tempfile.TemporaryDirectory(prefix="fiko-billing-mo-")
        output = Path(self._output.name)
        for compiled in messages.compile_catalogues(output):
            target = Path("fiko_billing", "locale", compiled.relative_to(output))
            build_data["force_include"][str(compiled)] = target.as_posix()

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        output = getattr(self, "_output", None)
        if output is not None:
            output.cleanup()
