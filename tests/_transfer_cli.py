"""Running the real ``azstoragetorch`` console script in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def script() -> str:
    """The console script installed beside this interpreter (fails if it is missing)."""
    found = Path(sys.executable).parent / "azstoragetorch"
    if not found.exists():
        located = shutil.which("azstoragetorch")
        if located is None:
            pytest.fail("the azstoragetorch console script is not installed", pytrace=False)
        return located
    return str(found)


def run(
    *args: str,
    connection_string: str | None = None,
    prefix: tuple[str, ...] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``azstoragetorch args...``; its stdout and stderr are pipes, so no bar."""
    env = {k: v for k, v in os.environ.items() if k != "AZURE_STORAGE_CONNECTION_STRING"}
    if connection_string is not None:
        env["AZURE_STORAGE_CONNECTION_STRING"] = connection_string
    return subprocess.run(
        [*prefix, script(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )
