"""Sphinx configuration for the azstoragetorch documentation."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import versions  # noqa: E402

project = "azstoragetorch"
author = "azstoragetorch developers"
copyright = "2026, azstoragetorch developers"
release = versions.find_versions()[0][1]
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "sphinx.ext.napoleon"]
html_theme = "furo"
html_title = f"azstoragetorch {release}"
# _generated/ holds files included by pages (the benchmark results), not pages.
exclude_patterns = ["_build", "_generated"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# The API reference documents the public names only; the private modules they
# live in are an implementation detail.
add_module_names = True
# No network at build time: cross-project links are plain text, not fetched inventories.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
