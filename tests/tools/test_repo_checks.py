"""The repository checks catch what they exist to catch (on a copy of packages/)."""

import shutil
from pathlib import Path

import check_repo
import pytest
import versions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path, monkeypatch):
    shutil.copytree(
        ROOT / "packages", tmp_path / "packages", ignore=shutil.ignore_patterns("tests")
    )
    packages = tmp_path / "packages"
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / check_repo.ARCHITECTURE, tmp_path / check_repo.ARCHITECTURE)
    version_file = packages / versions.VERSION_FILE.relative_to(versions.PACKAGES)
    monkeypatch.setattr(check_repo, "ROOT", tmp_path)
    monkeypatch.setattr(check_repo, "PACKAGES", packages)
    monkeypatch.setattr(versions, "ROOT", tmp_path)
    monkeypatch.setattr(versions, "PACKAGES", packages)
    monkeypatch.setattr(versions, "VERSION_FILE", version_file)
    return packages


def test_the_real_tree_passes_both_checks():
    assert check_repo.problems() == []
    assert versions.check() == 0


def test_a_namespace_init_is_caught(tree):
    (tree / "azstoragetorch-io/src/azstoragetorch/__init__.py").write_text("")
    assert any("breaks the azstoragetorch namespace" in p for p in check_repo.problems())


def test_a_file_shipped_by_two_distributions_is_caught(tree):
    (tree / "azstoragetorch-datasets/src/azstoragetorch/io").mkdir()
    (tree / "azstoragetorch-datasets/src/azstoragetorch/io/_reader.py").write_text("")
    assert any("is shipped by" in p for p in check_repo.problems())


def test_core_importing_torch_is_caught(tree):
    (tree / "azstoragetorch-core/src/azstoragetorch/_core/_bad.py").write_text("import torch\n")
    assert any("imports torch" in p for p in check_repo.problems())


def test_io_importing_datasets_is_caught(tree):
    bad = tree / "azstoragetorch-io/src/azstoragetorch/io/_bad.py"
    bad.write_text("from azstoragetorch.datasets import BlobDataset\n")
    assert any("may only import" in p for p in check_repo.problems())


def test_a_missing_py_typed_is_caught(tree):
    (tree / "azstoragetorch-io/src/azstoragetorch/io/py.typed").unlink()
    assert any("has no py.typed" in p for p in check_repo.problems())


def test_version_drift_is_caught_and_bump_repairs_it(tree):
    pyproject = tree / "azstoragetorch-io/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "', 'version = "9', 1))
    assert versions.check() == 1
    assert versions.bump("1.2.3") == 0
    found = versions.find_versions()
    assert {version for _, version in found} == {"1.2.3"}
    assert len(found) == 11


def test_a_loose_sibling_pin_is_caught(tree):
    pyproject = tree / "azstoragetorch-datasets/pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"azstoragetorch-io==', '"azstoragetorch-io>=', 1))
    assert versions.check() == 1


def test_a_module_missing_from_the_architecture_map_is_caught(tree):
    assert check_repo.problems() == []
    (tree / "azstoragetorch-datasets/src/azstoragetorch/datasets/_newcomer.py").write_text("")
    (tree / "azstoragetorch-io/src/azstoragetorch/io/later").mkdir()
    (tree / "azstoragetorch-io/src/azstoragetorch/io/later/py.typed").write_text("")
    found = check_repo.problems()
    assert any("does not name datasets/_newcomer" in p for p in found)
    assert any("does not name io/later" in p for p in found)
    assert len(found) == 2


def test_an_architecture_page_without_its_module_map_is_caught(tree):
    page = tree.parent / check_repo.ARCHITECTURE
    page.write_text(page.read_text().replace("Distributions and modules", "Parts"))
    assert check_repo.problems() == [
        f"{check_repo.ARCHITECTURE} has no module map "
        "('Distributions and modules' ... 'The public names are')"
    ]
