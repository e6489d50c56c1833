#!/usr/bin/env python3
"""Structural checks of the monorepo; exits non-zero with a list of what is wrong.

* ``azstoragetorch`` is a PEP 420 namespace: no distribution may ship
  ``azstoragetorch/__init__.py`` (it would shadow the other distributions' parts).
* No file is shipped by two distributions: each owns whole subpackages.
* Every owned subpackage carries ``py.typed``.
* The dependency arrows point one way: datasets -> io -> core; core imports no torch.
* The module map in ``docs/architecture.rst`` names every module of ``_core``, ``io``
  and ``datasets``, every subpackage of those, and every other subpackage (a
  newcomer's map that silently lacks modules is worse than none).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"

# Which top-level azstoragetorch modules each distribution's source may import.
ALLOWED_IMPORTS = {
    "azstoragetorch-core": {"_core", "credentials", "exceptions", "options"},
    "azstoragetorch-io": {"_core", "credentials", "exceptions", "options", "io"},
    "azstoragetorch-datasets": {"_core", "credentials", "exceptions", "options", "io", "datasets"},
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


# The subpackages whose modules the architecture page maps one by one.
MAPPED_MODULES = {"_core", "io", "datasets"}
ARCHITECTURE = "docs/architecture.rst"
_MAP_START, _MAP_END = "Distributions and modules", "The public names are"


def _module_map() -> str | None:
    """The module map's text on the architecture page; ``None`` if it has none."""
    page = (ROOT / ARCHITECTURE).read_text()
    start, end = page.find(_MAP_START), page.find(_MAP_END)
    return page[start:end] if 0 <= start < end else None


def _unmapped(root: Path, text: str) -> list[str]:
    """The names under ``root`` (one distribution's ``azstoragetorch``) that the
    module map ``text`` should name and does not."""
    missing = []
    for subpackage in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "__pycache__"):
        wanted = [subpackage.name]
        if subpackage.name in MAPPED_MODULES:
            for child in sorted(subpackage.iterdir()):
                if child.suffix == ".py" and child.stem != "__init__":
                    wanted.append(child.stem)
                elif child.is_dir() and child.name != "__pycache__":
                    wanted.append(child.name)
        for name in wanted:
            if not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text):
                label = name if name == subpackage.name else f"{subpackage.name}/{name}"
                missing.append(
                    f"{ARCHITECTURE}'s module map does not name {label} "
                    f"({root.parent.parent.name}): add a line for it"
                )
    return missing


def problems() -> list[str]:
    found: list[str] = []
    module_map = _module_map()
    if module_map is None:
        found.append(f"{ARCHITECTURE} has no module map ('{_MAP_START}' ... '{_MAP_END}')")
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
        if module_map is not None:
            found.extend(_unmapped(root, module_map))
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"check_repo: {problem}", file=sys.stderr)
    if not found:
        print(
            "check_repo: namespace, ownership, py.typed, import direction and the "
            "architecture page's module map are in order"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
