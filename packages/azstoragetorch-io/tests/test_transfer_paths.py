"""Mapping blob names to local paths, and include/exclude patterns (no storage)."""

from __future__ import annotations

from pathlib import Path

import pytest

from azstoragetorch.io.transfer._local_files import PathFilter, inside, local_path_for


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "../x",
        "a/../../x",
        "a/..",
        ".",
        "./a",
        "a/./b",
        "/etc/passwd",
        "a//b",
        "a/",
        "",
        "a\x00b",
    ],
)
def test_names_that_are_not_plain_relative_paths_are_refused(name, tmp_path):
    with pytest.raises(ValueError, match="blob name"):
        local_path_for(tmp_path, name)


@pytest.mark.parametrize("name", ["a", "cats/0.png", "x y/é#1.bin", "..hidden", "a..b/c"])
def test_plain_relative_names_land_under_the_root(name, tmp_path):
    path = local_path_for(tmp_path, name)
    assert path == tmp_path.joinpath(*name.split("/"))
    assert inside(tmp_path, path)


def test_a_link_that_leads_out_is_not_inside(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path / "elsewhere")
    assert not inside(tmp_path / "root", tmp_path / "root" / "link" / "f")
    assert not inside(tmp_path / "root", tmp_path / "rootish")
    assert inside(tmp_path / "root", tmp_path / "root")


def test_include_and_exclude_patterns():
    keep = PathFilter(include=["*.png", "labels/*"], exclude=["cats/*"])
    assert keep.keeps("dogs/0.png")
    assert keep.keeps("labels/a.csv")
    assert not keep.keeps("cats/0.png")
    assert not keep.keeps("dogs/0.jpg")
    assert PathFilter().keeps(str(Path("anything")))
