"""docs/api.rst lists every public name: each public module's ``__all__`` and the
public members of each public class.

The public modules are found by walking the ``azstoragetorch`` namespace (every
module path without a ``_``-prefixed part), so a name added to any distribution's
``__all__``, or a method added to a public class, fails here until the reference
documents it. A member counts when it is first declared by one of our classes or by
the standard library's ``io`` classes (BlobIO's file interface); members of
``object`` and exceptions, and the methods our classes implement for a torch
interface (a DCP ``StorageWriter``'s ``write_data``, a ``Dataset``'s
``__getitem__``), are torch's or Python's to document.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import azstoragetorch

API_PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.rst"
# The protocols a user reaches through syntax rather than a name.
PROTOCOL_MEMBERS = ("__iter__", "__next__", "__len__", "__getitem__", "__enter__", "__exit__")
_DOCUMENTED_BASES = ("azstoragetorch", "io", "_io")


def public_modules() -> list[ModuleType]:
    found = []
    for info in pkgutil.walk_packages(azstoragetorch.__path__, "azstoragetorch."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        found.append(importlib.import_module(info.name))
    return found


def public_members(cls: type) -> set[str]:
    """Public names of ``cls`` first declared by one of our classes or by the io classes."""
    names = set()
    for name in dir(cls):
        if name.startswith("_") and name not in PROTOCOL_MEMBERS:
            continue
        owner = next((base for base in reversed(cls.__mro__) if name in vars(base)), None)
        if owner is not None and owner.__module__.split(".")[0] in _DOCUMENTED_BASES:
            names.add(name)
    return names


class Directive:
    """An autodoc directive of the page and the members it documents."""

    def __init__(self, kind: str, target: str, options: dict[str, str]) -> None:
        self.kind = kind
        self.target = target
        self.options = options

    def documents_member(self, cls: type, name: str) -> bool:
        listed = {
            item.strip()
            for option in ("members", "special-members")
            for item in self.options.get(option, "").split(",")
            if item.strip()
        }
        if name in listed:
            # autodoc silently drops a listed member without a docstring.
            return "undoc-members" in self.options or bool(inspect.getdoc(getattr(cls, name)))
        if "inherited-members" in self.options and "members" in self.options:
            return not name.startswith("_")
        # A bare :members: shows the class's own public members, not inherited ones.
        bare = "members" in self.options and not self.options["members"].strip()
        own = any(
            name in vars(base)
            for base in cls.__mro__
            if base.__module__.startswith("azstoragetorch")
        )
        return bare and own and not name.startswith("_")


def directives(text: str) -> list[Directive]:
    found = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"\.\. auto(class|module|function|exception|data):: (\S+)", line)
        if not match:
            continue
        options: dict[str, str] = {}
        current = None
        for following in lines[index + 1 :]:
            option = re.match(r"   :([a-z-]+):(.*)", following)
            if option:
                current = option.group(1)
                options[current] = option.group(2).strip()
            elif current and following.startswith("      "):
                options[current] += " " + following.strip()
            else:
                break
        found.append(Directive(match.group(1), match.group(2), options))
    return found


def documented_classes(page: list[Directive]) -> dict[str, Directive]:
    """Fully qualified public name -> the directive that documents it."""
    found: dict[str, Directive] = {}
    for directive in page:
        if directive.kind == "module" and "members" in directive.options:
            module = importlib.import_module(directive.target)
            for name in getattr(module, "__all__", []):
                found.setdefault(f"{directive.target}.{name}", directive)
        elif directive.kind != "module":
            found[directive.target] = directive
    return found


PAGE = directives(API_PAGE.read_text())
DOCUMENTED = documented_classes(PAGE)
PUBLIC = [
    (module.__name__, name, getattr(module, name))
    for module in public_modules()
    for name in getattr(module, "__all__", [])
]


def test_the_namespace_has_the_public_modules_we_know() -> None:
    names = {module.__name__ for module in public_modules()}
    assert {"azstoragetorch.io", "azstoragetorch.datasets", "azstoragetorch.exceptions"} <= names


@pytest.mark.parametrize(("module", "name", "obj"), PUBLIC, ids=[f"{m}.{n}" for m, n, _ in PUBLIC])
def test_every_public_name_and_member_is_in_the_api_reference(
    module: str, name: str, obj: object
) -> None:
    directive = DOCUMENTED.get(f"{module}.{name}")
    assert directive is not None, f"{module}.{name} is public but not in docs/api.rst"
    if inspect.isclass(obj):
        missing = sorted(m for m in public_members(obj) if not directive.documents_member(obj, m))
        assert not missing, f"docs/api.rst does not document {module}.{name}: {missing}"


def test_a_missing_member_is_reported() -> None:
    # The check itself must be able to fail: a directive listing one member only.
    only_read = Directive("class", "azstoragetorch.io.BlobIO", {"members": "read"})
    from azstoragetorch.io import BlobIO

    assert only_read.documents_member(BlobIO, "read")
    assert not only_read.documents_member(BlobIO, "readlines")
    assert not only_read.documents_member(BlobIO, "__iter__")
    undocumented = Directive("class", "azstoragetorch.io.BlobIO", {"members": "closed"})
    assert not undocumented.documents_member(BlobIO, "closed")
