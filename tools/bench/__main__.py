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

from . import cache, data, datasets, dcp, docs, imports, machine, report, upstream
from .plan import FULL, GIB, QUICK, Implementation, Sizes
from .runner import Interpreter, curl_path
from .session import Session

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / ".benchmarks"
UPSTREAM_VENV = BENCH_DIR / "upstream-venv"
DOCS_RESULTS = REPO / "docs" / "_generated" / "performance-results.rst"
OURS_ROOT = REPO / "packages"
PARTS = ("imports", "io", "dcp", "datasets", "cache")


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
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument(
        "--cache-root",
        type=Path,
        help="where the cache part makes its cache directories (default: this run's "
        "folder in .benchmarks, on the local disk)",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="rewrite the results on docs/performance.rst in quick mode too (full mode does)",
    )
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    args.parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown or not args.parts:
        parser.error(f"--parts takes {', '.join(PARTS)}; got {args.parts}")
    if "dcp" in args.parts and "io" not in args.parts:
        parser.error("--parts dcp needs io too: DCP is compared with BlobIO's rates")
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


@dataclasses.dataclass
class Measured:
    """What the parts of one run measured; None for a part that was not run."""

    sizes: Sizes
    azurite_version: str = ""
    io: report.Results | None = None
    dcp: dcp.DcpResults | None = None
    datasets: datasets.Results | None = None
    cache: cache.CacheResults | None = None
    imports: list[tuple[str, ...]] | None = None


def _dataset_sizes(quick: bool, reps: int | None) -> datasets.DatasetSizes:
    """The datasets and cache parts' sizes: their own, with ``--reps`` if given."""
    sizes = datasets.QUICK if quick else datasets.FULL
    return sizes if reps is None else dataclasses.replace(sizes, reps=reps)


def _measure(
    parts: list[str],
    sizes: Sizes,
    interpreters: dict[Implementation, Interpreter],
    curl: str | None,
    quick: bool,
    cache_root: Path | None = None,
    dataset_reps: int | None = None,
) -> Measured:
    """Start Azurite, upload the data, run every repetition; always stop Azurite.

    ``dataset_reps`` (``--reps``) replaces the datasets and cache parts' own
    number of repetitions.
    """
    measured = Measured(sizes)
    if "imports" in parts:
        measured.imports = imports.measure(interpreters, reps=3 if quick else 7)
    if "io" not in parts and "datasets" not in parts and "cache" not in parts:
        return measured
    from .rig import azurite

    measured.azurite_version = azurite.installed_version() or azurite.pinned_version()
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=BENCH_DIR))
    try:
        instance = azurite.start()
    except azurite.AzuriteError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise AzuriteStartError(str(exc)) from exc
    store: data.Store | None = None
    container: datasets.DataContainer | None = None
    timeout = 300.0 if quick else 900.0
    try:
        print(f"Azurite {measured.azurite_version} at {instance.blob_endpoint}.", flush=True)
        if "io" in parts:
            store = data.Store(
                instance.connection_string,
                instance.account_name,
                instance.account_key,
                instance.blob_endpoint,
            )
            prepare_started = time.monotonic()
            prepared = data.prepare(store, sizes, workdir)
            print(f"Checkpoint data ready in {time.monotonic() - prepare_started:.0f} s.")
            session = Session(
                sizes=sizes,
                store=store,
                prepared=prepared,
                interpreters=interpreters,
                curl=curl,
                timeout=timeout,
                server_pid=instance.pid,
            )
            measured.io = session.run()
            if "dcp" in parts:
                measured.dcp = dcp.measure(
                    sizes,
                    store,
                    interpreters["ours"].python,
                    workdir,
                    timeout,
                    single=session.measure_ours,
                )
        if "datasets" in parts or "cache" in parts:
            dataset_sizes = _dataset_sizes(quick, dataset_reps)
            container = datasets.DataContainer(
                instance.connection_string,
                instance.account_name,
                instance.account_key,
                instance.blob_endpoint,
            )
            prepare_started = time.monotonic()
            container.fill(dataset_sizes.blobs)
            print(
                f"{dataset_sizes.blobs:,} dataset blobs ready in "
                f"{time.monotonic() - prepare_started:.0f} s.",
                flush=True,
            )
        if "datasets" in parts and container is not None:
            measured.datasets = datasets.run(
                container, interpreters, dataset_sizes, timeout, server_pid=instance.pid
            )
        if "cache" in parts and container is not None:
            measured.cache = cache.run(
                container, interpreters, dataset_sizes, timeout, cache_root or workdir
            )
        return measured
    finally:
        if store is not None:
            store.close()
        if container is not None:
            container.close()
        instance.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _checkpoint_table(measured: Measured) -> tuple[list[report.Row], list[str]]:
    """The BlobIO table's rows and the notes under it."""
    assert measured.io is not None
    rows = report.build_rows(measured.io, measured.sizes)
    busy = machine.busy_warning(measured.io.loads)
    return rows, report.notes(rows, measured.sizes, measured.io, busy)


def _write_docs(
    measured: Measured,
    checkpoint_table: tuple[list[report.Row], list[str]],
    elapsed: float,
    found: dict[str, str],
    torch_version: str,
    curl: str | None,
) -> None:
    """Rewrite the performance page's results (``docs/_generated/``) with this run's tables."""
    assert measured.io is not None
    rows, notes = checkpoint_table
    upstream_text = f"azstoragetorch {found['azstoragetorch']} with torch {found['torch']}"
    page = docs.render(
        date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        summary=f"The whole run, Azurite start included, took {elapsed / 60:.1f} minutes.",
        machine=machine.describe(
            torch_version=torch_version,
            azurite_version=measured.azurite_version,
            upstream=upstream_text,
            curl=curl,
            load=machine.load_summary(
                measured.io.loads + (measured.dcp.loads if measured.dcp else [])
            ),
        ),
        table=report.render_rst(rows, measured.io.curl_missing),
        notes=notes,
        sections=_sections(measured, rst=True),
    )
    docs.write(DOCS_RESULTS, page)
    print(f"Wrote {DOCS_RESULTS.relative_to(REPO)}.")


def _sections(measured: Measured, *, rst: bool) -> list[tuple[str, str, list[str]]]:
    """The tables after the checkpoint one: DCP, datasets, then import cost."""
    render = report.table_rst if rst else report.table_text
    found = []
    if measured.dcp is not None and measured.io is not None:
        found.append((
            "Distributed checkpoints",
            render(dcp.HEADER, dcp.rows(measured.dcp, measured.sizes)),
            dcp.notes(measured.dcp),
        ))  # fmt: skip
    if measured.datasets is not None:
        found.append((
            "Datasets",
            render(datasets.HEADER, datasets.rows(measured.datasets)),
            datasets.notes(measured.datasets),
        ))  # fmt: skip
    if measured.cache is not None:
        found.append((
            "Datasets: local cache",
            render(cache.HEADER, cache.rows(measured.cache)),
            cache.notes(measured.cache),
        ))  # fmt: skip
    if measured.imports is not None:
        found.append((
            "Import cost",
            render(imports.HEADER, measured.imports),
            ["Each import runs in a new isolated interpreter (python -I)."],
        ))  # fmt: skip
    return found


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
        measured = _measure(
            args.parts, sizes, interpreters, curl, args.quick, args.cache_root, args.reps
        )
    except AzuriteStartError as exc:
        print(f"error: Azurite did not start: {exc}", file=sys.stderr)
        return 2

    elapsed = time.monotonic() - started
    failures: list[str] = []
    checkpoint_table: tuple[list[report.Row], list[str]] = ([], [])
    if measured.io is not None:
        checkpoint_table = _checkpoint_table(measured)
        print("\nCheckpoints (BlobIO)\n")
        print(report.render_text(checkpoint_table[0], measured.io.curl_missing))
        print()
        for note in checkpoint_table[1]:
            print(f"* {note}")
        failures.extend(measured.io.failures)
    for title, table, notes in _sections(measured, rst=False):
        print(f"\n{title}\n\n{table}\n")
        for note in notes:
            print(f"* {note}")
    if measured.dcp is not None:
        failures.extend(measured.dcp.failures)
    if measured.datasets is not None:
        failures.extend(measured.datasets.failures)
    if measured.cache is not None:
        failures.extend(measured.cache.failures)
    print(f"* Wall time {elapsed / 60:.1f} min.")
    for failure in failures:
        print(f"\nFAILED {failure}", file=sys.stderr)

    if (not args.quick or args.write_docs) and set(args.parts) == set(PARTS):
        _write_docs(measured, checkpoint_table, elapsed, found, torch_version, curl)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
