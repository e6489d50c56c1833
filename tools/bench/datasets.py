"""Benchmark of the datasets: ours against upstream 0.2.0 and raw GETs, same blobs.

A container of small blobs (16 KiB each) is read through a ``DataLoader`` with
``batch_size=64`` by both implementations, map-style and iterable, with 0 and 2
workers, each repetition in a fresh process (``dataset_worker.py``). The limits are
measured on the same blobs: keep-alive GETs with ``http.client`` in this process on
one connection and on four, the same from two processes at once with four
connections each (the highest rate of bare GETs measured), and
``ContainerClient.list_blobs`` for the listing. Every measurement records how busy
Azurite's request thread was.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import random
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient

from . import dataset_worker, worker_support
from .data import Store
from .plan import IMPLEMENTATIONS, KIB, Implementation
from .runner import Interpreter, RunFailed, result_of, run_json

CONTAINER = "bench-datasets"
BLOB_BYTES = 16 * KIB
BATCH_SIZE = 64
WORKER = str(Path(__file__).with_name("dataset_worker.py"))


@dataclass(frozen=True)
class DatasetSizes:
    """How many blobs, how many samples each implementation reads, how many repetitions."""

    blobs: int
    samples_ours: int
    samples_upstream: int
    reps: int

    def samples(self, who: Implementation) -> int:
        """Samples read per repetition: upstream's per-sample cost makes it read fewer."""
        return self.samples_ours if who == "ours" else self.samples_upstream


QUICK = DatasetSizes(blobs=2_000, samples_ours=2_000, samples_upstream=1_000, reps=1)
FULL = DatasetSizes(blobs=10_000, samples_ours=10_000, samples_upstream=2_000, reps=3)


@dataclass(frozen=True)
class Scenario:
    """One DataLoader configuration and its target ratio against upstream."""

    kind: str  # "map" or "iterable"
    workers: int
    target: float

    @property
    def key(self) -> str:
        """``map-0`` and the like."""
        return f"{self.kind}-{self.workers}"

    @property
    def label(self) -> str:
        """Row label."""
        return f"{self.kind}, {self.workers} workers"


SCENARIOS = (
    Scenario("map", 0, 3.0),
    Scenario("map", 2, 3.0),
    Scenario("iterable", 0, 4.0),
    Scenario("iterable", 2, 3.0),
)
LISTING_TARGET = 1.1  # ours at most 1.1x the SDK's list_blobs time
# Ours, iterable with 2 workers, at least 0.9x ours, map-style with 2 workers: the
# workers share one listing instead of each walking it.
ITERABLE_VS_MAP = (Scenario("iterable", 2, 0.9), Scenario("map", 2, 0.0))
# The same work as the iterable dataset's epoch, done by the map-style dataset: its
# listing timed inside the epoch. On one emulator thread, what the 0.9x can reach.
LISTED_MAP = Scenario("map", 2, 0.0)
LISTED_MAP_KEY = f"{LISTED_MAP.key}-listed"
LISTED_MAP_LABEL = f"{LISTED_MAP.label}, listed"
# The raw GET limits: (processes, connections in each).
RAW_LIMITS = ((1, 1), (1, 4), (2, 4))
# The share of the time from which Azurite's request thread has no capacity left.
SATURATED = 0.9


@dataclass
class Runs:
    """Repetitions of one (scenario, who): rates (per second), and the CPU seconds per
    sample of the client and of Azurite."""

    rates: list[float] = field(default_factory=list)
    cpu_per_sample: list[float] = field(default_factory=list)
    server_cpu_per_sample: list[float] = field(default_factory=list)
    thread_cpu_per_sample: list[float] = field(default_factory=list)
    """Azurite's request-thread CPU seconds per sample."""
    thread_busy: list[float] = field(default_factory=list)
    """The share of the time Azurite's request thread was busy."""
    listings: list[int] = field(default_factory=list)
    """List Blobs requests sent during each repetition's timed epoch (ours only)."""
    listings_built: list[int] = field(default_factory=list)
    """List Blobs requests sent while building the dataset (ours only)."""

    def listing_text(self) -> str:
        """``3 per epoch (+0 building)``: the most of any repetition, or ``n/a``."""
        if not self.listings:
            return "n/a"
        built = max(self.listings_built) if self.listings_built else 0
        return f"{max(self.listings)} per epoch (+{built} building)"

    def add_server(self, seconds: float, samples: float, server: Any, thread: Any) -> None:
        """Record Azurite's CPU over a measurement of ``samples`` that took ``seconds``."""
        if server is not None:
            self.server_cpu_per_sample.append(float(server) / samples)
        if thread is not None:
            self.thread_cpu_per_sample.append(float(thread) / samples)
            self.thread_busy.append(float(thread) / seconds)

    def thread_text(self) -> str:
        """``0.93 (0.71 ms/sample)``: the request thread's median busy share and CPU per
        sample (one GET per sample for ours and for the raw GETs)."""
        if not self.thread_busy:
            return "n/a"
        per = statistics.median(self.thread_cpu_per_sample) * 1000
        return f"{statistics.median(self.thread_busy):.2f} ({per:.2f} ms/sample)"

    def text(self) -> str:
        """``612 (598-640)`` or ``failed``."""
        if not self.rates:
            return "failed"
        return f"{statistics.median(self.rates):.0f} ({min(self.rates):.0f}-{max(self.rates):.0f})"

    def median(self) -> float | None:
        """Median rate, None without a repetition."""
        return statistics.median(self.rates) if self.rates else None

    def cpu_text(self) -> str:
        """Median CPU per sample in milliseconds: the client's, and Azurite's if measured."""
        if not self.cpu_per_sample:
            return "n/a"
        client = f"{statistics.median(self.cpu_per_sample) * 1000:.2f}"
        server = self.server_cpu_text()
        return f"{client} ms" if server is None else f"{client} + {server}"

    def server_cpu_text(self) -> str | None:
        """Median Azurite CPU per sample (or request), None if not measured."""
        if not self.server_cpu_per_sample:
            return None
        return f"{statistics.median(self.server_cpu_per_sample) * 1000:.2f} ms"


@dataclass
class Results:
    """Everything one run of this benchmark measured."""

    sizes: DatasetSizes
    runs: dict[tuple[str, str], Runs] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def of(self, key: str, who: str) -> Runs:
        """The repetitions of (key, who), created empty on first use."""
        return self.runs.setdefault((key, who), Runs())


class DataContainer(Store):
    """The container of small blobs, addressed by a container SAS."""

    def __init__(self, connection_string: str, account: str, key: str, endpoint: str) -> None:
        super().__init__(connection_string, account, key, endpoint, CONTAINER)
        self.names: list[str] = []

    def fill(self, count: int) -> None:
        """Upload ``count`` blobs of random bytes, 16 at a time."""
        generator = random.Random(7)
        self.names = [f"samples/{i:06d}.bin" for i in range(count)]
        bodies = [generator.randbytes(BLOB_BYTES) for _ in range(count)]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(self.client.upload_blob, self.names, bodies))


def _raw_key(processes: int, connections: int) -> str:
    return f"raw-{processes}x{connections}"


def _raw_label(processes: int, connections: int) -> str:
    if processes == 1:
        return f"{connections} conn"
    return f"{processes} proc x {connections} conn"


def _raw_gets(
    container: DataContainer,
    names: list[str],
    processes: int,
    connections: int,
    server_pid: int | None,
    timeout: float,
) -> tuple[float, float, tuple[float, float] | None]:
    """GET ``names`` with bare keep-alive ``http.client`` connections.

    With one process, in this one; with more, from that many ``dataset_worker.py``
    processes at once, each with ``connections`` connections, timed from the first
    one's start to the last one's end. Returns the seconds, the GETs made, and
    Azurite's CPU seconds meanwhile (all threads, request thread) if known.
    """
    parts = urllib.parse.urlsplit(container.container_url)
    spec: dict[str, Any] = {
        "scenario": "raw",
        "netloc": parts.netloc,
        "path": parts.path,
        "sas": container.sas,
        "blob_bytes": BLOB_BYTES,
        "connections": connections,
    }
    before = worker_support.server_cpu(server_pid)
    if processes == 1:
        # The worker's function, run here: no process start-up, one interpreter.
        try:
            done = dataset_worker.raw_gets({**spec, "names": names})
        except (AssertionError, OSError, http.client.HTTPException) as exc:
            raise RunFailed(f"raw GETs failed: {exc}") from exc
        seconds = float(done["ended"]) - float(done["started"])
    else:
        children: list[subprocess.Popen[str]] = []
        try:
            for i in range(processes):
                share = json.dumps({**spec, "names": names[i::processes]})
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-I", WORKER, share],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )
            found = [result_of(child, timeout) for child in children]
        finally:
            for child in children:  # after a failure, the others must not linger
                if child.poll() is None:
                    child.kill()
                    child.communicate()
        seconds = max(float(r["ended"]) for r in found) - min(float(r["started"]) for r in found)
    return seconds, len(names), worker_support.since(before, server_pid)


def _sdk_listing_seconds(container: DataContainer) -> float:
    started = time.perf_counter()
    with ContainerClient.from_container_url(container.sas_url) as client:
        count = sum(1 for _ in client.list_blobs())
    if count != len(container.names):
        raise RunFailed(f"list_blobs returned {count} blobs, expected {len(container.names)}")
    return time.perf_counter() - started


def _run_worker(
    interpreter: Interpreter, spec: dict[str, object], timeout: float
) -> dict[str, Any]:
    return run_json(interpreter, [str(WORKER), json.dumps(spec)], timeout)


def run(
    container: DataContainer,
    interpreters: dict[Implementation, Interpreter],
    sizes: DatasetSizes,
    timeout: float,
    server_pid: int | None = None,
) -> Results:
    """Every repetition: the limits, the listing, then each DataLoader scenario.

    With ``server_pid`` (Azurite's process), each measurement also records the CPU
    time the server spent per request or sample.
    """
    results = Results(sizes)
    sample = container.names[: min(len(container.names), 2_000)]
    for rep in range(1, sizes.reps + 1):
        tag = f"[{rep}/{sizes.reps}]"
        for processes, connections in RAW_LIMITS:
            label = f"raw GET, {_raw_label(processes, connections)}"
            try:
                seconds, gets, server = _raw_gets(
                    container, sample, processes, connections, server_pid, timeout
                )
            except RunFailed as exc:
                results.failures.append(f"{label}: {exc}")
                print(f"{tag} {label:<30} {'':<8} FAILED: {str(exc).splitlines()[-1]}")
                continue
            limit = results.of(_raw_key(processes, connections), "limit")
            limit.rates.append(gets / seconds)
            served = ""
            if server is not None:
                limit.add_server(seconds, gets, *server)
                served = (
                    f"  Azurite {server[0] / gets * 1000:.2f} ms CPU/GET, request thread "
                    f"busy {server[1] / seconds:.2f}"
                )
            print(f"{tag} {label:<30} {'':<8} {gets / seconds:8.0f} /s{served}")
        seconds = _sdk_listing_seconds(container)
        results.of("list", "sdk").rates.append(seconds)
        print(f"{tag} {'list_blobs (SDK)':<30} {'':<8} {seconds:8.2f} s", flush=True)
        order = IMPLEMENTATIONS if rep % 2 else tuple(reversed(IMPLEMENTATIONS))
        for who in order:
            spec: dict[str, object] = {
                "scenario": "list",
                "container_url": container.sas_url,
                "expected": sizes.blobs,
            }
            result = _attempt(results, tag, "BlobDataset listing", interpreters[who], spec, timeout)
            if result is not None:
                results.of("list", who).rates.append(float(result["seconds"]))
                print(f"{tag} {'BlobDataset listing':<30} {who:<8} {result['seconds']:8.2f} s")

        def loader_spec(scenario: Scenario, who: Implementation) -> dict[str, object]:
            return {
                "scenario": scenario.kind,
                "container_url": container.sas_url,
                "workers": scenario.workers,
                "batch_size": BATCH_SIZE,
                "samples": sizes.samples(who),
                "blob_bytes": BLOB_BYTES,
                "server_pid": server_pid,
            }

        for scenario in SCENARIOS:
            for who in order:
                _loader_run(results, tag, scenario.key, scenario.label, interpreters[who],
                            loader_spec(scenario, who), timeout)  # fmt: skip
        # The iterable dataset's work, done by the map-style one: list, then read.
        spec = {**loader_spec(LISTED_MAP, "ours"), "list_in_epoch": True}
        _loader_run(results, tag, LISTED_MAP_KEY, LISTED_MAP_LABEL, interpreters["ours"], spec,
                    timeout)  # fmt: skip
    return results


def _loader_run(
    results: Results,
    tag: str,
    key: str,
    label: str,
    interpreter: Interpreter,
    spec: dict[str, object],
    timeout: float,
) -> None:
    """One timed DataLoader repetition, recorded under (``key``, its implementation)."""
    who = interpreter.implementation
    result = _attempt(results, tag, label, interpreter, spec, timeout)
    if result is None:
        return
    runs = results.of(key, who)
    runs.rates.append(result["samples"] / result["seconds"])
    runs.cpu_per_sample.append(result["cpu_seconds"] / result["samples"])
    server = result.get("server_cpu_seconds")
    thread = result.get("server_thread_cpu_seconds")
    runs.add_server(result["seconds"], result["samples"], server, thread)
    listed = ""
    if result.get("listing_requests") is not None:
        runs.listings.append(int(result["listing_requests"]))
        runs.listings_built.append(int(result["listing_requests_built"]))
        listed = (
            f"  listing requests {runs.listings[-1]} per epoch "
            f"(+{runs.listings_built[-1]} building)"
        )
    served = ""
    if server is not None:
        served += f" + Azurite {server / result['samples'] * 1000:.2f} ms"
    if thread is not None:
        served += f", request thread busy {thread / result['seconds']:.2f}"
    print(
        f"{tag} {label:<30} {who:<8} {runs.rates[-1]:8.0f} samples/s"
        f"  {runs.cpu_per_sample[-1] * 1000:.2f} ms CPU/sample{served}{listed}",
        flush=True,
    )


def _attempt(
    results: Results,
    tag: str,
    label: str,
    interpreter: Interpreter,
    spec: dict[str, object],
    timeout: float,
) -> dict[str, Any] | None:
    """Run one repetition; on failure record it and return None."""
    try:
        return _run_worker(interpreter, spec, timeout)
    except RunFailed as exc:
        who = interpreter.implementation
        results.failures.append(f"{label}, {who}: {exc}")
        print(f"{tag} {label:<30} {who:<8} FAILED: {str(exc).splitlines()[-1]}", flush=True)
        return None


HEADER = (
    "scenario",
    "ours median (min-max)",
    "upstream median (min-max)",
    "limit",
    "ours/upstream",
    "target",
    "CPU per sample, client + Azurite (ours; upstream)",
    "Azurite request thread busy (ours; upstream)",
)


def rows(results: Results) -> list[tuple[str, ...]]:
    """The table: the listing, then each DataLoader scenario (samples/s)."""
    sizes = results.sizes
    table: list[tuple[str, ...]] = []
    sdk = results.of("list", "sdk")
    ours, upstream = results.of("list", "ours"), results.of("list", "upstream")
    ratio = _ratio(sdk.median(), ours.median())  # time ratio: lower is better
    table.append((
        f"listing {sizes.blobs:,} blobs (seconds)",
        _seconds(ours), _seconds(upstream), f"list_blobs {_seconds(sdk)}",
        _ratio_text(upstream.median(), ours.median()),
        _verdict(f"<={LISTING_TARGET:g}x list_blobs time",
                 None if ratio is None else 1 / ratio, LISTING_TARGET.__ge__),
        "n/a",
        "n/a",
    ))  # fmt: skip
    limits = "; ".join(
        f"{results.of(_raw_key(p, c), 'limit').text()} ({_raw_label(p, c)})" for p, c in RAW_LIMITS
    )
    ceiling = results.of(_raw_key(*RAW_LIMITS[-1]), "limit")
    limits = f"raw GET {limits}; request thread busy {ceiling.thread_text()} at the last"
    for scenario in SCENARIOS:
        ours, upstream = results.of(scenario.key, "ours"), results.of(scenario.key, "upstream")
        value = _ratio(ours.median(), upstream.median())
        table.append((
            f"{scenario.label} (samples/s)",
            ours.text(),
            upstream.text() + (
                f" [{sizes.samples_upstream:,} samples]"
                if sizes.samples_upstream != sizes.samples_ours else ""
            ),
            limits,
            _ratio_text(ours.median(), upstream.median()),
            _verdict(f">={scenario.target:g}x upstream", value, scenario.target.__le__),
            f"{ours.cpu_text()}; {upstream.cpu_text()}",
            f"{ours.thread_text()}; {upstream.thread_text()}",
        ))  # fmt: skip
    table.append(iterable_vs_map(results))
    return table


def iterable_vs_map(results: Results) -> tuple[str, ...]:
    """Ours against ours: the iterable dataset with 2 workers beside the map-style one,
    with the List Blobs requests each sent per epoch."""
    iterable, mapped = ITERABLE_VS_MAP
    ours, baseline = results.of(iterable.key, "ours"), results.of(mapped.key, "ours")
    listed = results.of(LISTED_MAP_KEY, "ours")
    value = _ratio(ours.median(), baseline.median())
    return (
        f"{iterable.label} vs {mapped.label}, ours (samples/s; listing requests)",
        f"{ours.text()}; {ours.listing_text()}",
        f"map: {baseline.text()}; {baseline.listing_text()}",
        f"map listing in the epoch: {listed.text()}; "
        f"{_ratio_text(listed.median(), baseline.median())} map",
        _ratio_text(ours.median(), baseline.median()),
        _verdict(f">={iterable.target:g}x map", value, iterable.target.__le__),
        "n/a",
        "n/a",
    )


def _bound_notes(results: Results) -> list[str]:
    """For each missed target whose run kept Azurite's request thread busy: the rate the
    target needed, and whether that one thread could have served it."""
    found = []
    ceiling = results.of(_raw_key(*RAW_LIMITS[-1]), "limit")
    for scenario in SCENARIOS:
        ours, upstream = results.of(scenario.key, "ours"), results.of(scenario.key, "upstream")
        value = _ratio(ours.median(), upstream.median())
        if value is None or value >= scenario.target or not ours.thread_busy:
            continue
        busy = statistics.median(ours.thread_busy)
        if busy < SATURATED:
            continue
        needed = scenario.target * (upstream.median() or 0.0)
        per_sample = statistics.median(ours.thread_cpu_per_sample)
        raw = ceiling.median()
        text = (
            f"'{scenario.label}': Azurite's request thread was busy {busy:.2f} of the time "
            f"during ours, at {per_sample * 1000:.2f} ms of its CPU per sample (one GET). "
            f"{scenario.target:g}x upstream is {needed:,.0f} samples/s, which would keep that "
            f"thread {needed * per_sample:.2f} busy"
        )
        if raw is not None:
            text += f"; bare GETs from {_raw_label(*RAW_LIMITS[-1])} reached {raw:,.0f}/s"
        if needed * per_sample >= 1 or (raw is not None and needed > raw):
            text += ". Out of the emulator's reach: it, not the client, set this rate."
        else:
            text += ". The emulator was nearly saturated; the target was not out of its reach."
        found.append(text)
    return found


def _listing_note(results: Results) -> list[str]:
    """When the iterable dataset missed its ratio to the map-style one: what the map-style
    one reached doing the same work, its listing inside the epoch."""
    iterable, mapped = ITERABLE_VS_MAP
    ours, baseline = results.of(iterable.key, "ours"), results.of(mapped.key, "ours")
    listed = results.of(LISTED_MAP_KEY, "ours")
    value = _ratio(ours.median(), baseline.median())
    reach = _ratio(listed.median(), baseline.median())
    if value is None or value >= iterable.target or reach is None:
        return []
    text = (
        f"'{iterable.label}' at {value:.3f}x the map-style dataset, which lists before its "
        f"epoch: the map-style dataset with its listing inside the epoch, the iterable "
        f"one's work, ran at {reach:.3f}x"
    )
    if reach < iterable.target:
        text += (
            ". Out of the emulator's reach: on Azurite's one request thread the listing's "
            "time adds to the GETs', for any dataset that lists each epoch."
        )
    else:
        text += ". The listing alone does not explain the gap."
    return [text]


def _seconds(runs: Runs) -> str:
    if not runs.rates:
        return "failed"
    return f"{statistics.median(runs.rates):.2f} s ({min(runs.rates):.2f}-{max(runs.rates):.2f})"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _ratio_text(a: float | None, b: float | None) -> str:
    value = _ratio(a, b)
    return "n/a" if value is None else f"{value:.2f}x"


def _verdict(name: str, value: float | None, met: Callable[[float], bool]) -> str:
    if value is None:
        return f"{name}: n/a"
    # Three decimals: at two, a ratio just under the target reads as the target.
    return f"{name}: {'met' if met(value) else 'missed'} ({value:.3f}x)"


def notes(results: Results) -> list[str]:
    """Sentences for under the table."""
    sizes = results.sizes
    found = [
        f"{sizes.blobs:,} blobs of {BLOB_BYTES // KIB} KiB, DataLoader batch_size "
        f"{BATCH_SIZE}; ours reads {sizes.samples_ours:,} samples per repetition, upstream "
        f"{sizes.samples_upstream:,}; {sizes.reps} repetition(s), each in a fresh process.",
        "CPU per sample: the client's counts the main process and its DataLoader "
        "workers (user + system time) over the timed loop; Azurite's is the emulator "
        "process's CPU time over the same loop. Both share the machine's cores, so their "
        "sum per sample bounds the samples per second the cores can serve.",
        "The raw GET limits read 2,000 of the blobs with bare http.client keep-alive "
        "connections (no pipeline, no checks): from this process, and from two processes "
        "at once; listing rows are seconds, lower is better, and their ratio is "
        "upstream's time over ours.",
        "Azurite answers every request on one JavaScript thread (Node's main thread); "
        "its busy share is that thread's CPU time over the wall time, and the ms/sample "
        "beside it is that thread's CPU time per sample, which is one GET for ours and "
        "for the raw GETs.",
        "Listing requests are the List Blobs requests ours sent during the timed epoch "
        "(from the main process and its DataLoader workers), and while building the "
        "dataset: the map-style dataset lists once when built, the iterable one each "
        "epoch, once per rank whatever its number of workers. The limit beside the "
        "iterable dataset's ratio to the map-style one is the map-style dataset built "
        "inside its timed epoch: the same listing and reads as the iterable one's epoch.",
    ]
    found.extend(_bound_notes(results))
    found.extend(_listing_note(results))
    met = sum(1 for row in rows(results) if ": met" in row[5])
    missed = sum(1 for row in rows(results) if ": missed" in row[5])
    found.append(f"Dataset targets: {met} met, {missed} missed.")
    found.extend(f"FAILED: {failure}"[:300] for failure in results.failures)
    return found
