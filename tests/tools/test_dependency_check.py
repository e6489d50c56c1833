"""The dependency check fails on an undeclared or unused import (on a copy of packages/)."""

import shutil
from pathlib import Path

import check_deps
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def packages(tmp_path, monkeypatch):
    shutil.copytree(
        ROOT / "packages", tmp_path / "packages", ignore=shutil.ignore_patterns("tests")
    )
    monkeypatch.setattr(check_deps, "PACKAGES", tmp_path / "packages")
    return tmp_path / "packages"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_the_real_tree_declares_exactly_what_it_imports():
    assert check_deps.problems() == []


def test_an_undeclared_third_party_import_fails(packages):
    _edit(packages / "azstoragetorch-io/pyproject.toml", '  "torch>=2.4",\n', "")
    (problem,) = check_deps.problems()
    assert "deptry on azstoragetorch-io" in problem
    assert "'torch' imported but" in problem


def test_an_unused_dependency_fails(packages):
    _edit(
        packages / "azstoragetorch-core/pyproject.toml",
        '  "azure-core>=1.30.0",\n',
        '  "azure-core>=1.30.0",\n  "azure-storage-blob>=12.20.0",\n',
    )
    # deptry alone misses it: azure-core is imported, and both provide "azure".
    assert check_deps.problems() == [
        "azstoragetorch-core declares azure-storage-blob but does not import it"
    ]


def test_an_undeclared_import_inside_a_namespace_fails(packages):
    _edit(packages / "azstoragetorch-core/pyproject.toml", '  "azure-identity>=1.15.0",\n', "")
    assert check_deps.problems() == [
        "azstoragetorch-core imports azure.identity but declares no distribution of it"
    ]


def test_a_sibling_imported_but_not_declared_fails(packages):
    _edit(
        packages / "azstoragetorch-io/pyproject.toml", '  "azstoragetorch-core==0.1.0.dev0",\n', ""
    )
    assert check_deps.problems() == [
        "azstoragetorch-io imports azstoragetorch-core but does not declare it"
    ]


def test_a_sibling_declared_but_not_imported_fails(packages):
    _edit(
        packages / "azstoragetorch-io/pyproject.toml",
        '  "azstoragetorch-core==0.1.0.dev0",\n',
        '  "azstoragetorch-core==0.1.0.dev0",\n  "azstoragetorch-datasets==0.1.0.dev0",\n',
    )
    assert check_deps.problems() == [
        "azstoragetorch-io declares azstoragetorch-datasets but does not import it"
    ]
