#!/usr/bin/env python3
"""Structural checks of the monorepo; exits non-zero with a list of what is wrong.

* ``azstoragetorch`` is a PEP 420 namespace: no distribution may ship
  ``azstoragetorch/__init__.py`` (it would shadow the other distributions' parts).
* No file is shipped by two distributions: each owns whole subpackages.
* Every owned subpackage carries ``py.typed``.
* The dependency arrows point one way: datasets -> io -> core; core imports no torch.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"

# Which top-level azstoragetorch modules each distribution's source may import.
ALLOWED_IMPORTS = {
    "azstoragetorch-core": {"_core", "credentials", "exceptions"},
    "azstoragetorch-io": {"_core", "credentials", "exceptions", "io"},
    "azstoragetorch-datasets": {"_core", "credentials", "exceptions", "io", "datasets"},
}


def _sources(distribution: str) -> Path:
    return PACKAGES / distribution / "src" / "azstoragetorch"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def problems() -> list[str]:
    found: list[str] = []
    owners: dict[str, str] = {}
    for distribution in ALLOWED_IMPORTS:
        root = _sources(distribution)
        if (root / "__init__.py").exists():
            found.append(f"{root / '__init__.py'} breaks the azstoragetorch namespace")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts:
                continue
            relative = str(path.relative_to(root))
            if relative in owners:
                found.append(
                    f"azstoragetorch/{relative} is shipped by {owners[relative]} and {distribution}"
                )
            owners[relative] = distribution
            if path.suffix == ".py":
                for module in _imported_modules(path):
                    top = module.split(".")
                    if top[0] == "torch" and distribution == "azstoragetorch-core":
                        found.append(f"{path.relative_to(ROOT)} imports torch; core must not")
                    allowed = ALLOWED_IMPORTS[distribution]
                    if top[0] == "azstoragetorch" and len(top) > 1 and top[1] not in allowed:
                        found.append(
                            f"{path.relative_to(ROOT)} imports {module}: "
                            f"{distribution} may only import {sorted(allowed)}"
                        )
        for subpackage in (p for p in root.iterdir() if p.is_dir() and p.name != "__pycache__"):
            if not (subpackage / "py.typed").exists():
                found.append(f"{subpackage.relative_to(ROOT)} has no py.typed")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"check_repo: {problem}", file=sys.stderr)
    if not found:
        print("check_repo: namespace, ownership, py.typed and import direction are in order")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
