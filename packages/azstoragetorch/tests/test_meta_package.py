"""The meta-package ships no code and pins its three siblings to its own version."""

import importlib.metadata


def test_it_pins_core_io_and_datasets_exactly_to_its_own_version():
    version = importlib.metadata.version("azstoragetorch")
    assert sorted(importlib.metadata.requires("azstoragetorch") or []) == [
        f"azstoragetorch-core=={version}",
        f"azstoragetorch-datasets=={version}",
        f"azstoragetorch-io=={version}",
    ]


def test_it_ships_no_code():
    files = importlib.metadata.files("azstoragetorch") or []
    assert [f for f in files if f.suffix == ".py"] == []
