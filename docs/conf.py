"""Sphinx configuration of the fiko-billing documentation (MyST Markdown, furo)."""

from __future__ import annotations

import sys
from pathlib import Path

# Importing the package reads only its version: no Django setup is needed
# (the model reference extension sets Django up itself, with the models only).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

from fiko_billing import __version__

project = "fiko-billing"
author = "fiko-billing contributors"
copyright = "fiko-billing contributors"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = ["myst_parser", "model_reference", "settings_reference"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"fiko-billing {release}"
html_static_path: list[str] = []
