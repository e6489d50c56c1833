"""Benchmark of the datasets' local cache (``cache_dir=``): epoch 1 and a warm epoch 2.

On the datasets part's container of 16 KiB blobs, for the map and the iterable
dataset with 0 and 2 DataLoader workers, each repetition runs in fresh processes
(``cache_worker.py``), in turn:

* ours without a cache, two epochs (epoch 1 is the reference);
* ours with a new, empty ``cache_dir``, two epochs: epoch 1 fills the cache,
  epoch 2 reads it (the iterable dataset's epoch includes its listing);
* upstream 0.2.0, two epochs, of which the second is its epoch-2 rate (it has no
  cache, so every epoch reads every blob again).

The targets: epoch 1 with the cache at least 0.9x epoch 1 without; the warm epoch
2 at least 5x epoch 1 with the cache, and at least 3,000 samples/s with 2 workers.
Each repetition also times a copy's file work alone (``filework.py``) where the
caches are made, and on ``/dev/shm`` when they are made elsewhere, so that the
file system's share of epoch 1 is printed beside it.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import filework
from .datasets import BATCH_SIZE, BLOB_BYTES, DataContainer, DatasetSizes
from .plan import Implementation
from .runner import Interpreter, RunFailed, run_json

WORKER = str(Path(__file__).with_name("cache_worker.py"))
SHM = Path("/dev/shm")

# (kind, workers): the DataLoader configurations measured.
SCENARIOS = (("map", 0), ("map", 2), ("iterable", 0), ("iterable", 2))
COLD_TARGET = 0.9  # epoch 1 with the cache / epoch 1 without
WARM_TARGET = 5.0  # warm epoch 2 / epoch 1 with the cache
WARM_FLOOR = 3_000.0  # samples/s of the warm epoch 2 with 2 workers

# The runs of one repetition: who, and with a cache or not.
_RUNS: tuple[tuple[str, Implementation, bool], ...] = (
    ("plain", "ours", False),
    ("cached", "ours", True),
    ("upstream", "upstream", False),
)


@dataclass
class CacheResults:
    """Rates (samples/s) per (scenario key, run, epoch 1 or 2)."""

    sizes: DatasetSizes
    root: str = "the local disk"
    """Where the cache directories were made, as the notes name it."""
    rates: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    file_work: filework.FileWorkResults = field(default_factory=filework.FileWorkResults)

    def add(self, key: str, run: str, epoch: int, rate: float) -> None:
        self.rates.setdefault((key, run, epoch), []).append(rate)

    def median(self, key: str, run: str, epoch: int) -> float | None:
        found = self.rates.get((key, run, epoch))
        return statistics.median(found) if found else None

    def text(self, key: str, run: str, epoch: int) -> str:
        found = self.rates.get((key, run, epoch))
        if not found:
            return "failed"
        return f"{statistics.median(found):.0f} ({min(found):.0f}-{max(found):.0f})"


def _key(kind: str, workers: int) -> str:
    return f"{kind}-{workers}"


def _label(kind: str, workers: int) -> str:
    return f"{kind}, {workers} workers"


def run(
    container: DataContainer,
    interpreters: dict[Implementation, Interpreter],
    sizes: DatasetSizes,
    timeout: float,
    workdir: Path,
) -> CacheResults:
    """Every repetition of every scenario; each cache starts empty in ``workdir``."""
    results = CacheResults(sizes, root=str(workdir))
    places = [workdir]
    if SHM.is_dir() and not workdir.resolve().is_relative_to(SHM):
        places.append(SHM)
    for rep in range(1, sizes.reps + 1):
        tag = f"[{rep}/{sizes.reps}]"
        for place in places:
            work = filework.measure(place, BLOB_BYTES)
            results.file_work.add(str(place), work)
            print(
                f"{tag} file work in {place}: {work.cpu_us_per_file:.0f} µs of CPU per "
                f"file, {work.files_per_second:,.0f} files/s",
                flush=True,
            )
        # Alternate the order, so that neither run always goes first.
        order = _RUNS if rep % 2 else tuple(reversed(_RUNS))
        for kind, workers in SCENARIOS:
            key, label = _key(kind, workers), _label(kind, workers)
            for name, who, cached in order:
                cache_dir = Path(tempfile.mkdtemp(prefix="cache-", dir=workdir)) if cached else None
                spec = {
                    "kind": kind,
                    "workers": workers,
                    "batch_size": BATCH_SIZE,
                    "samples": sizes.samples(who),
                    "blob_bytes": BLOB_BYTES,
                    "epochs": 2,
                    "container_url": container.sas_url,
                    "cache_dir": None if cache_dir is None else str(cache_dir),
                }
                try:
                    result = run_json(interpreters[who], [WORKER, json.dumps(spec)], timeout)
                except RunFailed as exc:
                    results.failures.append(f"cache {label}, {name}: {exc}")
                    print(f"{tag} {label:<22} {name:<9} FAILED: {str(exc).splitlines()[-1]}")
                    continue
                finally:
                    if cache_dir is not None:
                        shutil.rmtree(cache_dir, ignore_errors=True)
                rates = [result["samples"] / seconds for seconds in result["seconds"]]
                for epoch, rate in enumerate(rates, 1):
                    results.add(key, name, epoch, rate)
                print(
                    f"{tag} {label:<22} {name:<9} epoch 1 {rates[0]:8.0f} samples/s, "
                    f"epoch 2 {rates[1]:8.0f} samples/s",
                    flush=True,
                )
    return results


HEADER = (
    "scenario (samples/s)",
    "epoch 1, no cache",
    "epoch 1, cache",
    "epoch 2, warm cache",
    "upstream 0.2.0 epoch 2",
    "epoch 1: cache / none",
    "epoch 2 warm / epoch 1",
)


def rows(results: CacheResults) -> list[tuple[str, ...]]:
    """One row per scenario: the rates, and the two targets judged."""
    table: list[tuple[str, ...]] = []
    for kind, workers in SCENARIOS:
        key = _key(kind, workers)
        plain = results.median(key, "plain", 1)
        cold = results.median(key, "cached", 1)
        warm = results.median(key, "cached", 2)
        upstream = results.text(key, "upstream", 2)
        if results.sizes.samples_upstream != results.sizes.samples_ours:
            upstream += f" [{results.sizes.samples_upstream:,} samples]"
        warm_verdict = _verdict(f">={WARM_TARGET:g}x", _ratio(warm, cold), WARM_TARGET.__le__)
        if workers == 2:
            floor = "n/a" if warm is None else ("met" if warm >= WARM_FLOOR else "missed")
            warm_verdict += f"; >={WARM_FLOOR:,.0f}/s: {floor}"
        table.append((
            _label(kind, workers),
            results.text(key, "plain", 1),
            results.text(key, "cached", 1),
            results.text(key, "cached", 2),
            upstream,
            _verdict(f">={COLD_TARGET:g}x", _ratio(cold, plain), COLD_TARGET.__le__),
            warm_verdict,
        ))  # fmt: skip
    return table


def notes(results: CacheResults) -> list[str]:
    """Sentences for under the table."""
    sizes = results.sizes
    table = rows(results)
    met = sum(row[5].count(": met") + row[6].count(": met") for row in table)
    missed = sum(row[5].count(": missed") + row[6].count(": missed") for row in table)
    found = [
        f"{sizes.blobs:,} blobs of {BLOB_BYTES // 1024} KiB, DataLoader batch_size "
        f"{BATCH_SIZE}; an epoch of ours reads {sizes.samples_ours:,} samples, of upstream "
        f"{sizes.samples_upstream:,}; {sizes.reps} repetition(s), each run in a fresh "
        f"process, each cache starting empty, in {results.root}.",
        "Epochs are timed from the DataLoader iterator's creation to the last sample: "
        "the workers' start is included, and the iterable dataset's listing too. The "
        "map dataset lists the container once, before epoch 1, untimed.",
        "Upstream 0.2.0 has no cache: its epoch 2 reads every blob again.",
        f"Cache targets: {met} met, {missed} missed.",
    ]
    if results.file_work.found:
        found.append(
            f"A copy's file work alone (create, write {BLOB_BYTES // 1024} KiB, rename, "
            f"close; {filework.THREADS} threads; medians of the repetitions): "
            + "; ".join(results.file_work.describe(where) for where in results.file_work.found)
            + "."
        )
    reference = results.median(_key("map", 0), "plain", 1)
    if reference:
        found.append(
            f"At map, 0 workers' epoch 1 without a cache ({reference:.0f} samples/s), "
            f"{COLD_TARGET:g}x leaves {filework.budget_us(reference, COLD_TARGET):.0f} µs "
            "of wall-clock time per blob for everything the cache adds."
        )
    found.extend(f"FAILED: {failure}"[:300] for failure in results.failures)
    return found


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _verdict(name: str, value: float | None, met: Callable[[float], bool]) -> str:
    if value is None:
        return f"{name}: n/a"
    return f"{name}: {'met' if met(value) else 'missed'} ({value:.3f}x)"
