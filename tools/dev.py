#!/usr/bin/env python3
"""Entry point for a fresh machine: needs only Python >= 3.10, Node.js/npm and git.

    python3 tools/dev.py demo     # set everything up, run the demo on a local Azurite
    python3 tools/dev.py test     # set everything up, run every check and test tier
    python3 tools/dev.py hatch …  # any hatch command, with the pinned hatch

It installs the pinned hatch into .tools/ (git-ignored) with pip, then hands over to
the hatch scripts defined in hatch.toml, which install the workspace and Azurite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
HATCH_VERSION = "1.18.2"


def _hatch() -> Path:
    python = TOOLS / "bin" / "python"
    hatch = TOOLS / "bin" / "hatch"
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
    probe = subprocess.run(
        [str(python), "-m", "pip", "show", "hatch"], capture_output=True, text=True
    )
    if f"Version: {HATCH_VERSION}" not in probe.stdout:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"hatch=={HATCH_VERSION}"],
            check=True,
        )
    return hatch


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 10):  # noqa: UP036 - this script is what tells old Pythons
        sys.exit("azstoragetorch needs Python 3.10 or later.")
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, *rest = argv
    hatch = str(_hatch())
    env = dict(os.environ)
    if command == "test":
        return subprocess.run([hatch, "run", "all", *rest], cwd=ROOT, env=env).returncode
    if command == "demo":
        return subprocess.run([hatch, "run", "demo", *rest], cwd=ROOT, env=env).returncode
    if command == "hatch":
        return subprocess.run([hatch, *rest], cwd=ROOT, env=env).returncode
    sys.exit(f"Unknown command {command!r}: use 'demo', 'test' or 'hatch'.")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
