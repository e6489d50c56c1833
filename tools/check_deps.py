#!/usr/bin/env python3
"""Each distribution declares exactly what its code imports; exits non-zero if not.

* Third-party imports: ``deptry`` runs on each distribution's ``src/`` against its
  ``pyproject.toml``, and fails on an undeclared (DEP001), unused (DEP002),
  transitive (DEP003) or misplaced (DEP004) dependency.
* Namespace packages: deptry maps imports to distributions by top-level name, so
  ``azure`` stands for azure-core, azure-identity and azure-storage-blob alike.
  For a dependency that lives inside a namespace, this script checks the import
  paths it provides (``azure.core``, ``azure.identity``...) against the imports.
* Siblings: deptry sees the shared ``azstoragetorch`` namespace as one module, so
  this script checks them itself: a distribution must declare exactly the sibling
  distributions whose subpackages its code imports. The meta-package ships no code
  and declares all three.

Run it in the development environment (``hatch run checks``), where every
distribution is installed, so that deptry can map modules to distributions.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
META = "azstoragetorch"

# Which distribution owns each subpackage of the azstoragetorch namespace.
OWNERS = {
    "_core": "azstoragetorch-core",
    "exceptions": "azstoragetorch-core",
    "io": "azstoragetorch-io",
    "datasets": "azstoragetorch-datasets",
}
# Our pyproject.toml files write dependencies one quoted requirement a line (tomllib
# is not in Python 3.10, which the tools support).
_DEPENDENCIES = re.compile(r"(?ms)^dependencies = \[(.*?)^\]")
_NAME = re.compile(r'^\s*"([A-Za-z0-9._-]+)', re.M)


def declared(distribution: str) -> set[str]:
    text = (PACKAGES / distribution / "pyproject.toml").read_text()
    block = _DEPENDENCIES.search(text)
    return {name.lower() for name in _NAME.findall(block.group(1))} if block else set()


def imported_modules(distribution: str) -> set[str]:
    """Every absolute module name the source imports, at module level or inside functions."""
    modules: set[str] = set()
    for path in (PACKAGES / distribution / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module)
    return modules


def imported_siblings(distribution: str) -> set[str]:
    siblings: set[str] = set()
    for module in imported_modules(distribution):
        parts = module.split(".")
        if parts[0] == "azstoragetorch" and len(parts) > 1 and parts[1] in OWNERS:
            siblings.add(OWNERS[parts[1]])
    siblings.discard(distribution)
    return siblings


def package_roots(requirement: str) -> set[str]:
    """The outermost regular packages (or modules) an installed distribution provides."""
    roots: set[str] = set()
    for file in importlib.metadata.files(requirement) or []:
        parts = file.parts
        if ".." in parts or any(part.endswith((".dist-info", ".data")) for part in parts):
            continue
        if parts[-1] == "__init__.py":
            roots.add(".".join(parts[:-1]))
        elif len(parts) == 1 and parts[0].endswith(".py"):
            roots.add(parts[0][:-3])
    return {r for r in roots if not any(r.startswith(other + ".") for other in roots)}


def _covers(root: str, module: str) -> bool:
    return module == root or module.startswith(root + ".")


def namespace_problems(distribution: str, third_party: set[str]) -> list[str]:
    """Unused or undeclared dependencies inside namespace packages, which deptry misses."""
    found: list[str] = []
    roots = {name: package_roots(name) for name in sorted(third_party)}
    namespaced = {name: r for name, r in roots.items() if any("." in root for root in r)}
    namespaces = {root.split(".")[0] for r in namespaced.values() for root in r}
    modules = imported_modules(distribution)
    for name, provided in namespaced.items():
        if not any(_covers(root, m) for root in provided for m in modules):
            found.append(f"{distribution} declares {name} but does not import it")
    for module in sorted(m for m in modules if m.split(".")[0] in namespaces):
        if not any(_covers(root, module) for r in namespaced.values() for root in r):
            found.append(f"{distribution} imports {module} but declares no distribution of it")
    return found


def problems() -> list[str]:
    found: list[str] = []
    all_siblings = set(OWNERS.values())
    for distribution in sorted(all_siblings):
        wanted = imported_siblings(distribution)
        have = declared(distribution) & all_siblings
        for missing in sorted(wanted - have):
            found.append(f"{distribution} imports {missing} but does not declare it")
        for unused in sorted(have - wanted):
            found.append(f"{distribution} declares {unused} but does not import it")
        found += namespace_problems(distribution, declared(distribution) - all_siblings)
        ignores = "|".join(sorted(have)) or "none"
        run = subprocess.run(
            [
                *(sys.executable, "-m", "deptry", "src"),
                # The namespace is ours; the siblings were checked above.
                *("--known-first-party", "azstoragetorch"),
                *("--per-rule-ignores", f"DEP002={ignores}"),
            ],
            cwd=PACKAGES / distribution,
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        if run.returncode != 0:
            found.append(f"deptry on {distribution}:\n{run.stdout}{run.stderr}".rstrip())
    meta = declared(META)
    if meta != all_siblings:
        found.append(f"{META} must declare exactly {sorted(all_siblings)}, not {sorted(meta)}")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"check_deps: {problem}", file=sys.stderr)
    if not found:
        print("check_deps: every distribution declares exactly what its code imports")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
