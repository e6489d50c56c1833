"""docs/architecture.rst stays true: every module, class and method it names exists.

The page names code two ways: dotted paths (``azstoragetorch._core._blob_client``,
``azstoragetorch.io._reader.BlobReader``) and, in its diagram, bare module names
under the package they belong to. Both are resolved against the source tree.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "docs" / "architecture.rst").read_text()
DOTTED = sorted(set(re.findall(r"\bazstoragetorch(?:\.[A-Za-z_][A-Za-z0-9_]*)+", PAGE)))
# In the diagram: "        _name[, _name]   description" under a distribution's line.
_PACKAGE_LINE = re.compile(r"^    azstoragetorch-\w+\s+(azstoragetorch\.[\w.]+)")
_MODULE_LINE = re.compile(r"^        ((?:dcp\.)?_\w+(?:, (?:dcp\.)?_\w+)*)\s")


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or a module followed by attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            spec = importlib.util.find_spec(module_name)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            continue
        target: object = importlib.import_module(module_name)
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def diagram_modules() -> list[str]:
    found = []
    package = None
    for line in PAGE.splitlines():
        heading = _PACKAGE_LINE.match(line)
        if heading:
            package = heading.group(1).rstrip(",")
            continue
        listed = _MODULE_LINE.match(line)
        if listed and package is not None:
            found += [f"{package}.{name}" for name in listed.group(1).split(", ")]
    return found


def test_the_page_names_code_at_all() -> None:
    assert len(DOTTED) > 10
    assert len(diagram_modules()) > 15


@pytest.mark.parametrize("dotted", DOTTED)
def test_every_dotted_name_on_the_page_exists(dotted: str) -> None:
    assert _resolves(dotted), f"docs/architecture.rst names {dotted}, which does not exist"


@pytest.mark.parametrize("dotted", diagram_modules())
def test_every_module_in_the_diagram_exists(dotted: str) -> None:
    assert importlib.util.find_spec(dotted) is not None, (
        f"docs/architecture.rst's diagram names {dotted}, which does not exist"
    )


def test_a_name_that_does_not_exist_is_caught() -> None:
    assert _resolves("azstoragetorch._core._blob_client.BlobClient.read_into")
    assert not _resolves("azstoragetorch._core._client")
    assert not _resolves("azstoragetorch._core._blob_client.NoSuchClass")
