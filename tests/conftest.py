"""Shared test setup: make tests/ and tools/ importable, load the Azurite plugin."""

import sys
from pathlib import Path

# --import-mode=importlib does not put test folders on sys.path; the helpers
# in tests/ and the rig in tools/ are imported by plain module name.
_ROOT = Path(__file__).resolve().parent.parent
for _folder in (_ROOT / "tests", _ROOT / "tools"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

pytest_plugins = ["_azurite_plugin", "_recording", "_fixtures", "_many_blobs"]
