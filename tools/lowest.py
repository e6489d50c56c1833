#!/usr/bin/env python3
"""The "lowest versions" job: the distributions with every declared lower bound pinned.

    python tools/lowest.py            # build (or reuse) .lowest/, run the tests there

Each ``name>=X`` in ``packages/*/pyproject.toml`` becomes ``name==X`` in a
constraints file, and the four distributions are installed editable into a virtual
environment under ``.lowest/`` (git-ignored) with those constraints, beside the test
tools pinned in ``hatch.toml``. torch is the one exception: only torch 2.13.0 has a
wheel on this machine (any other would download gigabytes), so it stays at that.
Then it runs the unit tests of each distribution and a smoke test against Azurite:
BlobIO with ``torch.save``/``torch.load``, and the map-style dataset.

pip runs again only when the constraints or the test tools change.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
ENV = ROOT / ".lowest"
DISTRIBUTIONS = ("azstoragetorch-core", "azstoragetorch-io", "azstoragetorch-datasets")
# Only this torch has a wheel here; see the module docstring.
TORCH = "torch==2.13.0"
# Test tools, at the versions hatch.toml pins for the development environment.
TEST_TOOLS = ("pytest", "pytest-timeout", "hypothesis", "psutil", "numpy", "cryptography", "mypy")
# The tests' independent client, at whatever release works with the oldest azure-core
# (the development pin needs a newer one).
SDK = "azure-storage-blob"
SMOKE_TESTS = ("tests/io/test_blob_io_torch.py", "tests/datasets/test_map_dataset.py")

_DEPENDENCIES = re.compile(r"(?ms)^dependencies = \[(.*?)^\]")
_REQUIREMENT = re.compile(r'^\s*"([^"]+)"', re.M)
_LOWER_BOUND = re.compile(r"^([A-Za-z0-9._-]+)\s*>=\s*([^,;\s]+)$")


def _requirements(text: str) -> list[str]:
    block = _DEPENDENCIES.search(text)
    return _REQUIREMENT.findall(block.group(1)) if block else []


def constraints() -> list[str]:
    """``name==lower bound`` for every third-party dependency the distributions declare."""
    pins: dict[str, str] = {}
    for name in DISTRIBUTIONS:
        for requirement in _requirements((PACKAGES / name / "pyproject.toml").read_text()):
            if requirement.startswith("azstoragetorch"):
                continue  # siblings are installed from the tree
            match = _LOWER_BOUND.match(requirement)
            if match is None:
                raise SystemExit(f"lowest: {name} declares {requirement!r} without a lower bound")
            package, bound = match.group(1).lower(), match.group(2)
            if pins.get(package, bound) != bound:
                raise SystemExit(
                    f"lowest: {package} has two lower bounds: {pins[package]}, {bound}"
                )
            pins[package] = bound
    return sorted(TORCH if name == "torch" else f"{name}=={v}" for name, v in pins.items())


def test_tools() -> list[str]:
    """The test tools' requirements as hatch.toml writes them."""
    written = {r.split("=")[0].split(">")[0]: r for r in _requirements(_hatch_dependencies())}
    return [*(written.get(tool, tool) for tool in TEST_TOOLS), SDK]


def _hatch_dependencies() -> str:
    text = (ROOT / "hatch.toml").read_text()
    return text[text.index("[envs.default]") :]


def _python() -> Path:
    return ENV / "venv" / "bin" / "python"


def ensure_env() -> None:
    pins = constraints()
    tools = test_tools()
    stamp = hashlib.sha256("\n".join([*pins, *tools]).encode()).hexdigest()
    stamp_file = ENV / "stamp"
    if _python().exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        print(f"lowest: reusing {ENV} ({', '.join(pins)})", flush=True)
        return
    print(f"lowest: installing into {ENV} with {', '.join(pins)}", flush=True)
    if not _python().exists():
        shutil.rmtree(ENV, ignore_errors=True)
        ENV.mkdir()
        venv.EnvBuilder(with_pip=True).create(ENV / "venv")
    stamp_file.unlink(missing_ok=True)
    (ENV / "constraints.txt").write_text("\n".join(pins) + "\n")
    # The meta-package too: its unit tests read its installed metadata.
    editable = [
        arg for name in (*DISTRIBUTIONS, "azstoragetorch") for arg in ("-e", str(PACKAGES / name))
    ]
    subprocess.run(
        [
            *(str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            # Byte-compiling all of torch costs more than the few modules the tests import.
            "--no-compile",
            *("--constraint", str(ENV / "constraints.txt")),
            *editable,
            *pins,
            *tools,
        ],
        check=True,
    )
    for pin in pins:
        name, wanted = pin.split("==")
        found = subprocess.run(
            [str(_python()), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if _release(found) != _release(wanted):
            raise SystemExit(f"lowest: {name} {found} was installed, not {wanted}")
    stamp_file.write_text(stamp)


def _release(version: str) -> tuple[int, ...]:
    """``2.13.0+cpu`` and ``2.13`` alike as (2, 13): the numbers, without trailing zeros."""
    numbers = [int(part) for part in version.split("+")[0].split(".")]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def main(argv: list[str]) -> int:
    ensure_env()
    python = str(_python())
    unit = subprocess.run([python, "-m", "pytest", "packages", "-q", *argv], cwd=ROOT)
    smoke = subprocess.run([python, "-m", "pytest", *SMOKE_TESTS, "-q", *argv], cwd=ROOT)
    return unit.returncode or smoke.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
