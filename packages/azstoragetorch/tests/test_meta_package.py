"""The meta-package ships no code and pins its three siblings to its own version."""

import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def test_it_pins_core_io_and_datasets_exactly_to_its_own_version():
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    version = project["version"]
    assert sorted(project["dependencies"]) == [
        f"azstoragetorch-core=={version}",
        f"azstoragetorch-datasets=={version}",
        f"azstoragetorch-io=={version}",
    ]


def test_it_ships_no_code():
    config = tomllib.loads((PACKAGE / "pyproject.toml").read_text())
    assert config["tool"]["hatch"]["build"]["targets"]["wheel"]["bypass-selection"] is True
    assert not (PACKAGE / "src").exists()
