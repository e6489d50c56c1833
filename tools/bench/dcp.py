"""Distributed checkpoints on 2 ranks, beside single-process ``BlobIO`` in the same run.

For each repetition: ``dcp.save`` and ``dcp.load`` of one state dict of the mode's
size (``Sizes.big``) split between 2 gloo ranks, to Azurite through
``BlobStorageWriter``/``BlobStorageReader`` and to local disk through torch's
``FileSystemWriter``/``FileSystemReader``; then one process loads every tenth key
of the blob checkpoint and counts the bytes its GET responses carry. Each rank is a
fresh process running ``dcp_worker.py``; throughput is the whole state dict's bytes
over the slowest rank's time. Right before each DCP save and load to blobs, one
``BlobIO`` process does the same save or load, and the ratio compares the two.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import machine
from .data import Store
from .plan import Sizes, format_size
from .report import Summary
from .runner import Measurement, RunFailed, result_of, start

__all__ = ["HEADER", "DcpResults", "measure", "notes", "rows"]

WORKER = Path(__file__).resolve().parent / "dcp_worker.py"
WORLD_SIZE = 2
TENSORS = 64
"""Keys in the state dict, each ``Sizes.big / TENSORS`` bytes; ranks own half each."""
SPEED_TARGET = 0.8
"""Aggregate DCP throughput to blobs, as a share of single-process ``BlobIO``'s."""
PARTIAL_TARGET = 1.2
"""Bytes fetched by a load of 10% of the keys, as a multiple of those keys' bytes."""


@dataclass
class DcpResults:
    """Measurements of the distributed checkpoint scenarios of one run."""

    rates: dict[str, list[Measurement]] = field(default_factory=dict)
    """Keyed ``"<blob|fs> <save|load>"``."""
    partial: list[tuple[int, int]] = field(default_factory=list)
    """(bytes of the keys loaded, bytes fetched) of each partial load."""
    failures: list[str] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    """The 1-minute load average after each measurement."""
    single: dict[str, list[Measurement]] = field(default_factory=dict)
    """One ``BlobIO`` process's save and load, each run just before the DCP one."""


def measure(
    sizes: Sizes,
    store: Store,
    python: Path,
    workdir: Path,
    timeout: float,
    single: Callable[[str, int], Measurement | None],
) -> DcpResults:
    """Run every repetition of the DCP scenarios; never raises for a failed one.

    ``single(action, rep)`` measures one ``BlobIO`` process doing the same save or
    load; it runs right before each DCP one, so that the ratio compares runs made
    under the same conditions (this machine's speed drifts within minutes).
    """
    results = DcpResults()
    base = {
        "world_size": WORLD_SIZE,
        "n_tensors": TENSORS,
        "tensor_bytes": sizes.big // TENSORS,
    }
    for rep in range(1, sizes.reps + 1):
        prefix = f"dcp/{rep}"
        local = workdir / f"dcp-{rep}"
        targets = {"blob": {"url": store.url(prefix)}, "fs": {"path": str(local)}}
        for storage, target in targets.items():
            for action in ("save", "load"):
                label = f"{storage} {action}"
                spec = {**base, **target, "storage": storage, "action": action}
                if storage == "blob":
                    beside = single(action, rep)
                    if beside is not None:
                        results.single.setdefault(action, []).append(beside)
                        _progress(rep, sizes, f"BlobIO {action} (beside)", beside, results)
                try:
                    got = _run_ranks(python, spec, timeout)
                except RunFailed as exc:
                    _fail(results, rep, sizes, label, str(exc))
                    break  # nothing to load after a failed save
                results.rates.setdefault(label, []).append(got)
                _progress(rep, sizes, label, got, results)
        spec = {**base, **targets["blob"], "storage": "blob", "action": "partial"}
        try:
            partial = _run_worker(python, spec, timeout)
            results.partial.append((int(partial["bytes"]), int(partial["fetched"])))
            print(
                f"[{rep}/{sizes.reps}] DCP load 10% of keys (blob)  fetched "
                f"{int(partial['fetched']) / int(partial['bytes']):.3f}x their bytes",
                flush=True,
            )
        except RunFailed as exc:
            _fail(results, rep, sizes, "partial load", str(exc))
        _delete_prefix(store, prefix)
        shutil.rmtree(local, ignore_errors=True)
    return results


def _run_ranks(python: Path, spec: dict[str, Any], timeout: float) -> Measurement:
    """Start one process per rank; the measurement covers all ranks' data."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    processes = [
        start(python, str(WORKER), json.dumps({**spec, "rank": rank, "port": port}))
        for rank in range(spec["world_size"])
    ]
    outputs = []
    # Ranks are awaited in the order they finish: the first to fail is the one
    # reported, and the others (waiting for it in a collective) are stopped.
    with concurrent.futures.ThreadPoolExecutor(len(processes)) as pool:
        ranks = {
            pool.submit(result_of, process, timeout): rank for rank, process in enumerate(processes)
        }
        try:
            for finished in concurrent.futures.as_completed(ranks):
                try:
                    outputs.append(finished.result())
                except RunFailed as exc:
                    raise RunFailed(f"rank {ranks[finished]}: {exc}") from exc
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
    return Measurement(
        sum(int(out["bytes"]) for out in outputs), max(float(out["seconds"]) for out in outputs)
    )


def _run_worker(python: Path, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    return result_of(start(python, str(WORKER), json.dumps(spec)), timeout)


def _delete_prefix(store: Store, prefix: str) -> None:
    try:
        store.delete_prefix(prefix)
    except Exception as exc:
        print(f"    (could not delete {prefix}/: {type(exc).__name__})", file=sys.stderr)


def _label(sizes: Sizes, action: str) -> str:
    return f"DCP {action} {format_size(sizes.big)}, {WORLD_SIZE} ranks"


def _progress(rep: int, sizes: Sizes, label: str, m: Measurement, results: DcpResults) -> None:
    load = machine.load_average()
    if load is not None:
        results.loads.append(load)
    print(
        f"[{rep}/{sizes.reps}] DCP {label:<25} {m.mibps:8.1f} MiB/s  {m.seconds:7.2f} s"
        + ("" if load is None else f"  load {load:.1f}"),
        flush=True,
    )


def _fail(results: DcpResults, rep: int, sizes: Sizes, label: str, message: str) -> None:
    results.failures.append(f"rep {rep}, DCP {label}: {message}")
    first = message.strip().splitlines()[-1] if message.strip() else "failed"
    print(f"[{rep}/{sizes.reps}] DCP {label:<25} FAILED: {first}", flush=True)


HEADER = (
    "scenario",
    "DCP to blobs MiB/s median (min-max)",
    "BlobIO 1 process MiB/s (run beside each)",
    "torch FileSystem local disk MiB/s",
    "DCP/BlobIO",
    "target",
)


def rows(dcp: DcpResults, sizes: Sizes) -> list[tuple[str, ...]]:
    """The DCP table's rows: save and load rates beside BlobIO's, then the partial load."""
    rows: list[tuple[str, ...]] = []
    for action in ("save", "load"):
        ours = Summary.of(dcp.rates.get(f"blob {action}", []))
        local = Summary.of(dcp.rates.get(f"fs {action}", []))
        single = Summary.of(dcp.single.get(action, []))
        ratio = ours.median / single.median if ours and single else None
        verdict = "n/a" if ratio is None else ("met" if ratio >= SPEED_TARGET else "missed")
        rows.append(
            (
                _label(sizes, action),
                ours.text() if ours else "failed",
                single.text() if single else "failed",
                local.text() if local else "failed",
                "n/a" if ratio is None else f"{ratio:.2f}x",
                f">={SPEED_TARGET:g}x BlobIO: {verdict}",
            )
        )
    if dcp.partial:
        worst = max(fetched / needed for needed, fetched in dcp.partial)
        needed = dcp.partial[0][0]
        verdict = "met" if worst <= PARTIAL_TARGET else "missed"
        rows.append(
            (
                f"DCP load 10% of keys ({format_size(needed)})",
                f"fetched {worst:.3f}x their bytes (worst)",
                "",
                "",
                "",
                f"<={PARTIAL_TARGET:g}x bytes: {verdict}",
            )
        )
    return rows


def notes(dcp: DcpResults) -> list[str]:
    """Sentences for under the tables."""
    found = [
        f"DCP rows: {WORLD_SIZE} gloo ranks, one process each, {TENSORS} float32 tensors "
        "split between them; throughput is the whole state dict over the slowest rank's "
        "time. The local-disk load reads files just written, mostly from the page cache.",
    ]
    busy = machine.busy_warning(dcp.loads)
    if busy:
        found.append(busy)
    for failure in dcp.failures:
        last = failure.strip().splitlines()[-1]
        found.append(f"FAILED: {failure.splitlines()[0]} ... {last}"[:300])
    return found
