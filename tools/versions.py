#!/usr/bin/env python3
"""One version for every distribution.

    python tools/versions.py check         # fail if any version or sibling pin drifted
    python tools/versions.py bump 0.2.0    # rewrite every version and pin

The version lives in each packages/*/pyproject.toml (``version = "…"``), in the
exact ``==`` pins between siblings, and in core's ``_version.py`` (the user agent).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
VERSION_FILE = PACKAGES / "azstoragetorch-core/src/azstoragetorch/_core/_version.py"
NAMES = ("azstoragetorch-core", "azstoragetorch-io", "azstoragetorch-datasets", "azstoragetorch")

_PROJECT_VERSION = re.compile(r'(?m)^version = "([^"]+)"$')
_SIBLING_PIN = re.compile(r'"(azstoragetorch(?:-[a-z]+)?)([=<>!~]=?[^"]*)?"')
_CODE_VERSION = re.compile(r'__version__ = "([^"]+)"')


def _pyprojects() -> list[Path]:
    return [PACKAGES / name / "pyproject.toml" for name in NAMES]


def find_versions() -> list[tuple[str, str]]:
    """Every (where, version) pair; pins that are not exact are reported as such."""
    found: list[tuple[str, str]] = []
    for path in _pyprojects():
        text = path.read_text()
        where = str(path.relative_to(ROOT))
        match = _PROJECT_VERSION.search(text)
        found.append((f"{where} version", match.group(1) if match else "<missing>"))
        for name, spec in _SIBLING_PIN.findall(text):
            if name in NAMES and name != path.parent.name:
                pinned = spec[2:] if spec.startswith("==") else f"<not an exact pin: {spec!r}>"
                found.append((f"{where} pin on {name}", pinned))
    code = _CODE_VERSION.search(VERSION_FILE.read_text())
    found.append((str(VERSION_FILE.relative_to(ROOT)), code.group(1) if code else "<missing>"))
    return found


def check() -> int:
    found = find_versions()
    versions = {version for _, version in found}
    if len(versions) == 1:
        print(f"versions: all {len(found)} places say {versions.pop()}")
        return 0
    print("versions: the distributions disagree:", file=sys.stderr)
    for where, version in found:
        print(f"  {where}: {version}", file=sys.stderr)
    print("Run: python tools/versions.py bump <version>", file=sys.stderr)
    return 1


def bump(new: str) -> int:
    if not re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?", new):
        print(f"versions: {new!r} is not a PEP 440 release version", file=sys.stderr)
        return 2
    for path in _pyprojects():
        text = _PROJECT_VERSION.sub(f'version = "{new}"', path.read_text(), count=1)
        text = _SIBLING_PIN.sub(
            lambda m: f'"{m.group(1)}=={new}"' if m.group(1) in NAMES else m.group(0), text
        )
        path.write_text(text)
    VERSION_FILE.write_text(_CODE_VERSION.sub(f'__version__ = "{new}"', VERSION_FILE.read_text()))
    return check()


def main(argv: list[str]) -> int:
    if argv == ["check"]:
        return check()
    if len(argv) == 2 and argv[0] == "bump":
        return bump(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
