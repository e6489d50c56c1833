"""Command line: ``python -m tools.bench [--quick] [--reps N] [--write-docs]``.

Run it from the repository root with the development environment's Python, which
``python3 tools/dev.py hatch run bench`` does. Exit code 0 when every repetition ran
(whether or not the targets were met), 1 when one crashed, 2 when the setup failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import data, dcp, docs, machine, report, upstream
from .plan import FULL, GIB, QUICK, Implementation, Sizes
from .runner import Interpreter, curl_path
from .session import Session

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / ".benchmarks"
UPSTREAM_VENV = BENCH_DIR / "upstream-venv"
DOCS_PAGE = REPO / "docs" / "performance.rst"
OURS_ROOT = REPO / "packages"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description="Benchmark BlobIO against upstream azstoragetorch 0.2.0 and curl.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a quarter of the sizes, 2 repetitions"
    )
    parser.add_argument(
        "--reps", type=int, help=f"repetitions (default {QUICK.reps} quick, {FULL.reps} full)"
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="rewrite docs/performance.rst in quick mode too (full mode always does)",
    )
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def _check_ours() -> str:
    """Fail early unless this interpreter imports our azstoragetorch; return torch's version."""
    import torch

    import azstoragetorch.io

    module = Path(azstoragetorch.io.__file__ or "/").resolve()
    if not module.is_relative_to(OURS_ROOT.resolve()):
        sys.exit(
            f"This Python imports azstoragetorch.io from {module}, not from {OURS_ROOT}. "
            "Run the benchmark with: python3 tools/dev.py hatch run bench"
        )
    return str(torch.__version__)


def _free_space_warning(sizes: Sizes) -> None:
    # Azurite keeps its data in the temp folder; the local copies go to .benchmarks/.
    needed = 5 * sizes.big
    for folder in (Path(tempfile.gettempdir()), BENCH_DIR):
        free = shutil.disk_usage(folder).free
        if free < needed:
            print(
                f"warning: {folder} has {free / GIB:.1f} GiB free; "
                f"this run may need {needed / GIB:.1f} GiB",
                flush=True,
            )


class AzuriteStartError(RuntimeError):
    """The rig could not start Azurite."""


def _measure(
    sizes: Sizes,
    interpreters: dict[Implementation, Interpreter],
    curl: str | None,
    quick: bool,
) -> tuple[report.Results, dcp.DcpResults, str]:
    """Start Azurite, upload the data, run every repetition; always stop Azurite.

    Returns the results, those of the distributed checkpoint scenarios and the
    Azurite version.
    """
    sys.path.insert(0, str(REPO / "tools"))
    import azurite

    version = azurite.installed_version() or azurite.pinned_version()
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=BENCH_DIR))
    try:
        instance = azurite.start()
    except azurite.AzuriteError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise AzuriteStartError(str(exc)) from exc
    store: data.Store | None = None
    try:
        store = data.Store(
            instance.connection_string,
            instance.account_name,
            instance.account_key,
            instance.blob_endpoint,
        )
        print(f"Azurite {version} at {instance.blob_endpoint}; preparing data ...", flush=True)
        prepare_started = time.monotonic()
        prepared = data.prepare(store, sizes, workdir)
        print(f"Data ready in {time.monotonic() - prepare_started:.0f} s.", flush=True)
        session = Session(
            sizes=sizes,
            store=store,
            prepared=prepared,
            interpreters=interpreters,
            curl=curl,
            timeout=300.0 if quick else 900.0,
        )
        results = session.run()
        dcp_results = dcp.measure(
            sizes, store, interpreters["ours"].python, workdir, session.timeout
        )
        return results, dcp_results, version
    finally:
        if store is not None:
            store.close()
        instance.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _write_docs(
    rows: list[report.Row],
    dcp_table: str,
    notes: list[str],
    results: report.Results,
    elapsed: float,
    found: dict[str, str],
    torch_version: str,
    azurite_version: str,
    curl: str | None,
) -> None:
    """Rewrite ``docs/performance.rst`` with this run's table."""
    upstream_text = f"azstoragetorch {found['azstoragetorch']} with torch {found['torch']}"
    page = docs.render(
        date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        summary=f"The whole run, Azurite start included, took {elapsed / 60:.1f} minutes.",
        machine=machine.describe(
            torch_version=torch_version,
            azurite_version=azurite_version,
            upstream=upstream_text,
            curl=curl,
            load=machine.load_summary(results.loads),
        ),
        table=report.render_rst(rows, results.curl_missing) + "\n\n" + dcp_table,
        notes=notes,
    )
    docs.write(DOCS_PAGE, page)
    print(f"Wrote {DOCS_PAGE.relative_to(REPO)}.")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = _parse(argv)
    base = QUICK if args.quick else FULL
    sizes = dataclasses.replace(base, reps=args.reps or base.reps)
    started = time.monotonic()
    torch_version = _check_ours()
    curl = curl_path()
    if curl is None:
        print(
            "curl is NOT installed: the curl limits will be missing "
            "(install it with 'apt-get install -y curl').",
            flush=True,
        )
    BENCH_DIR.mkdir(exist_ok=True)
    _free_space_warning(sizes)
    try:
        found = upstream.ensure(UPSTREAM_VENV, BENCH_DIR / "upstream-pip.log")
    except upstream.UpstreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    interpreters: dict[Implementation, Interpreter] = {
        "ours": Interpreter("ours", Path(sys.executable), OURS_ROOT),
        "upstream": Interpreter("upstream", upstream.python_of(UPSTREAM_VENV), UPSTREAM_VENV),
    }

    try:
        results, dcp_results, azurite_version = _measure(sizes, interpreters, curl, args.quick)
    except AzuriteStartError as exc:
        print(f"error: Azurite did not start: {exc}", file=sys.stderr)
        return 2

    rows = report.build_rows(results, sizes)
    busy = machine.busy_warning(results.loads)
    notes = report.notes(rows, sizes, results, busy) + dcp.notes(dcp_results)
    results.failures += dcp_results.failures
    elapsed = time.monotonic() - started
    print()
    print(report.render_text(rows, results.curl_missing))
    print()
    print(dcp.render_text(dcp_results, results, sizes))
    print()
    for note in notes:
        print(f"* {note}")
    print(f"* Wall time {elapsed / 60:.1f} min.")
    for failure in results.failures:
        print(f"\nFAILED {failure}", file=sys.stderr)

    if not args.quick or args.write_docs:
        dcp_table = dcp.render_rst(dcp_results, results, sizes)
        _write_docs(
            rows, dcp_table, notes, results, elapsed, found, torch_version, azurite_version, curl
        )
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
