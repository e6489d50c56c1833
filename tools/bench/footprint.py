"""What a serving image pays for checkpoint I/O: ours beside upstream 0.2.0.

    python3 tools/dev.py hatch run python -m tools.bench.footprint [--reps N]

Into a virtual environment that already has ``torch==2.13.0`` (built once in
``.benchmarks/footprint-base``), it asks pip what ``pip install azstoragetorch-io``
(our wheels, built from this tree) and ``pip install azstoragetorch==0.2.0`` (upstream
ships io in one distribution) would add, installs exactly those distributions into a
folder of their own for each, and prints, side by side:

* how many distributions the install adds;
* their installed size (every file, bytecode caches excluded);
* ``import azstoragetorch.io`` in a fresh interpreter: median and range of ``--reps``
  runs, ours and upstream's alternating so that load on the machine hits both alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from .upstream import TORCH_VERSION, UPSTREAM_VERSION

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / ".benchmarks" / "footprint-base"
PACKAGES = REPO / "packages"

_IMPORT = (
    "import time; started = time.perf_counter(); import azstoragetorch.io; "
    "print(time.perf_counter() - started)"
)


def _python(env: Path) -> str:
    return str(env / "bin" / "python")


def _pip(env: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_python(env), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=True,
    )


def base_env() -> Path:
    """A virtual environment holding torch alone, as a serving image would."""
    probe = [_python(BASE), "-c", "import torch; print(torch.__version__)"]
    if Path(_python(BASE)).exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.stdout.strip().split("+")[0] == TORCH_VERSION:
            return BASE
    print(f"Building {BASE} with torch=={TORCH_VERSION} (once) ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(BASE)
    _pip(BASE, "install", "--quiet", f"torch=={TORCH_VERSION}")
    return BASE


def build_ours(out: Path) -> str:
    """Build core's and io's wheels into ``out``; returns their version."""
    for name in ("azstoragetorch-core", "azstoragetorch-io"):
        subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(out),
             str(PACKAGES / name)],
            capture_output=True,
            check=True,
        )  # fmt: skip
    (wheel,) = out.glob("azstoragetorch_io-*.whl")
    return wheel.name.split("-")[1]


def added(base: Path, requirement: str, find_links: Path | None) -> list[str]:
    """``name==version`` of every distribution pip would add to ``base``."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        links = ["--find-links", str(find_links)] if find_links else []
        _pip(base, "install", "--quiet", "--dry-run", "--report", str(report), *links,
             requirement)  # fmt: skip
        items = json.loads(report.read_text())["install"]
    return sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in items)


def install_alone(base: Path, pins: list[str], target: Path, find_links: Path | None) -> int:
    """Install exactly ``pins`` into ``target``; returns their size in bytes."""
    links = ["--find-links", str(find_links)] if find_links else []
    _pip(base, "install", "--quiet", "--no-deps", "--no-compile", "--target", str(target),
         *links, *pins)  # fmt: skip
    return sum(
        path.stat().st_size
        for path in target.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def import_seconds(base: Path, target: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [_python(base), "-c", _IMPORT], capture_output=True, text=True, env=env, check=True
    )
    return float(out.stdout.strip())


@dataclasses.dataclass
class Side:
    """One install measured: what it adds, its size, where it is, its import times."""

    requirement: str
    pins: list[str]
    size: int
    target: Path
    times: list[float] = dataclasses.field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.footprint")
    parser.add_argument("--reps", type=int, default=7, help="imports per side (default 7)")
    args = parser.parse_args(argv)
    base = base_env()
    with tempfile.TemporaryDirectory(prefix="footprint-") as scratch:
        work = Path(scratch)
        wheels = work / "wheels"
        version = build_ours(wheels)
        sides = {
            "ours": (f"azstoragetorch-io=={version}", wheels),
            f"upstream {UPSTREAM_VERSION}": (f"azstoragetorch=={UPSTREAM_VERSION}", None),
        }
        rows: dict[str, Side] = {}
        for who, (requirement, links) in sides.items():
            pins = added(base, requirement, links)
            target = work / who.split()[0]
            size = install_alone(base, pins, target, links)
            rows[who] = Side(requirement, pins, size, target)
            # Warm the file cache once, so that the first timed import is not the outlier.
            import_seconds(base, target)
        for _ in range(args.reps):
            for side in rows.values():
                side.times.append(import_seconds(base, side.target) * 1000)
    print(f"Serving footprint over torch {TORCH_VERSION} ({args.reps} imports each, alternating)")
    heading = "import ms median (min-max)"
    print(f"{'':<16}{'distributions added':>22}{'installed MiB':>16}{heading:>30}")
    for who, side in rows.items():
        times = side.times
        span = f"{statistics.median(times):.0f} ({min(times):.0f}-{max(times):.0f})"
        print(f"{who:<16}{len(side.pins):>22}{side.size / 2**20:>16.1f}{span:>30}")
    for who, side in rows.items():
        print(f"{who} ({side.requirement}) adds: {', '.join(side.pins)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
