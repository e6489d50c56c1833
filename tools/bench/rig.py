"""The tools the benchmark shares with the test rig, found in ``tools/``.

``tools/azurite.py`` and ``tools/processes.py`` are imported by plain module name,
as the tests import them; this is the one place the benchmark puts ``tools/`` on
``sys.path`` to reach them.
"""

from __future__ import annotations

import sys
from pathlib import Path

_TOOLS = str(Path(__file__).resolve().parents[1])
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

import azurite  # noqa: E402
import processes  # noqa: E402

__all__ = ["azurite", "processes"]
