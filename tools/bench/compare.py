"""Compare BlobIO at another revision with the working tree, side by side.

``python3 tools/dev.py hatch run python -m tools.bench.compare --base HEAD~1``

This machine's speed drifts by 2-4x within minutes, so two benchmark runs made at
different times cannot show a change of 20%. This runs both versions in the same
minutes instead: each round runs every scenario once for each, in alternating
order, each in a fresh process (``worker.py``), against one Azurite. The base
revision's ``packages/*/src`` is extracted with ``git archive`` and put first on
the worker's ``sys.path``; the same interpreter and torch run both. It prints the
median throughput and client CPU of each, and in how many rounds the working tree
was faster.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from . import data
from .plan import FULL, QUICK, SCENARIOS
from .report import table_text
from .runner import Interpreter, Measurement
from .session import Session

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / ".benchmarks"


def _extract(revision: str, into: Path) -> tuple[Path, ...]:
    """The ``src`` folders of every distribution at ``revision``, extracted under ``into``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "packages"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return tuple(sorted((into / "packages").glob("*/src")))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.compare", description=__doc__)
    parser.add_argument("--base", required=True, help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=6, help="rounds (default 6)")
    parser.add_argument("--quick", action="store_true", help="the quick mode's sizes")
    keys = [scenario.key for scenario in SCENARIOS]
    parser.add_argument(
        "--scenarios",
        default=",".join(keys),
        help=f"comma-separated, of {', '.join(keys)} (default: all)",
    )
    args = parser.parse_args(argv)
    args.scenarios = [key.strip() for key in args.scenarios.split(",") if key.strip()]
    if not args.scenarios or set(args.scenarios) - set(keys) or args.rounds < 1:
        parser.error(f"--scenarios takes {', '.join(keys)}; --rounds at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print the comparison; 1 if any repetition failed."""
    args = _parse(argv)
    sizes = QUICK if args.quick else FULL
    from .rig import azurite

    BENCH_DIR.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="compare-", dir=BENCH_DIR))
    base_root = workdir / "base"
    base = Interpreter("ours", Path(sys.executable), base_root, _extract(args.base, base_root))
    versions = {args.base: base, "working tree": Interpreter("ours", Path(sys.executable), REPO)}
    found: dict[tuple[str, str], list[Measurement]] = {}
    failed = False
    instance = azurite.start()
    try:
        store = data.Store(
            instance.connection_string,
            instance.account_name,
            instance.account_key,
            instance.blob_endpoint,
        )
        prepared = data.prepare(store, sizes, workdir)
        sessions = {
            name: Session(
                sizes=sizes,
                store=store,
                prepared=prepared,
                interpreters={"ours": interpreter},
                curl=None,
                timeout=900.0,
                server_pid=instance.pid,
            )
            for name, interpreter in versions.items()
        }
        for round_ in range(1, args.rounds + 1):
            order = list(sessions) if round_ % 2 else list(reversed(sessions))
            for key in args.scenarios:
                for name in order:
                    measured = sessions[name].measure_ours(key, round_)
                    failed |= measured is None
                    if measured is not None:
                        found.setdefault((key, name), []).append(measured)
                        print(f"[{round_}] {key:<12} {name:<14} {measured.mibps:8.1f} MiB/s")
        store.close()
    finally:
        instance.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(_table(found, args.scenarios, list(versions)))
    return 1 if failed else 0


def _table(
    found: dict[tuple[str, str], list[Measurement]], keys: list[str], names: list[str]
) -> str:
    base, new = names
    cells: list[tuple[str, ...]] = []
    for key in keys:
        old_runs, new_runs = found.get((key, base), []), found.get((key, new), [])
        wins = sum(n.mibps > o.mibps for o, n in zip(old_runs, new_runs, strict=False))
        cells.append((
            key,
            _median_text(old_runs),
            _median_text(new_runs),
            f"{wins} of {min(len(old_runs), len(new_runs))}",
        ))  # fmt: skip
    header = (
        "scenario",
        f"{base}: MiB/s, client CPU s (medians)",
        f"{new}: MiB/s, client CPU s (medians)",
        "rounds the working tree was faster",
    )
    return table_text(header, cells)


def _median_text(runs: list[Measurement]) -> str:
    if not runs:
        return "failed"
    rate = statistics.median(m.mibps for m in runs)
    cpu = [m.client_cpu for m in runs if m.client_cpu is not None]
    return f"{rate:.0f}, {statistics.median(cpu):.2f}" if cpu else f"{rate:.0f}"


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"Wall time {(time.monotonic() - started) / 60:.1f} min.")
    sys.exit(code)
