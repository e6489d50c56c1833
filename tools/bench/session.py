"""The repetitions of one run: every scenario for ours and upstream, and curl."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from . import machine, worker_support
from .data import BlobData, Prepared, Store
from .plan import IMPLEMENTATIONS, MIB, SCENARIOS, Implementation, Scenario, Sizes
from .report import Results
from .runner import Interpreter, Measurement, RunFailed, curl_get, curl_put, run_worker


class Session:
    """Runs the repetitions against one prepared container and collects results."""

    def __init__(
        self,
        *,
        sizes: Sizes,
        store: Store,
        prepared: Prepared,
        interpreters: dict[Implementation, Interpreter],
        curl: str | None,
        timeout: float,
        server_pid: int | None = None,
    ) -> None:
        self.sizes = sizes
        self.server_pid = server_pid
        self.store = store
        self.prepared = prepared
        self.interpreters = interpreters
        self.curl = curl
        self.timeout = timeout
        self.results = Results(curl_missing=curl is None)

    def run(self) -> Results:
        """All repetitions; ours and upstream alternate who goes first."""
        for rep in range(1, self.sizes.reps + 1):
            order = IMPLEMENTATIONS if rep % 2 else tuple(reversed(IMPLEMENTATIONS))
            self._curl(rep)
            self._memory_load(rep)
            for scenario in SCENARIOS:
                for who in order:
                    self._scenario(rep, scenario, who)
        return self.results

    def measure_ours(self, key: str, rep: int) -> Measurement | None:
        """One more repetition of our ``key`` scenario, not added to the results: the
        DCP part runs it beside each of its own, so the two meet the same machine, and
        ``tools.bench.compare`` runs it for two revisions in turn."""
        scenario = next(s for s in SCENARIOS if s.key == key)
        spec, saved = self._spec(scenario, "ours", rep)
        try:
            return run_worker(self.interpreters["ours"], spec, self.timeout)
        except RunFailed as exc:
            self._fail(rep, f"{scenario.label(self.sizes)} (single run)", "ours", str(exc))
            return None
        finally:
            if saved is not None:
                self._delete_quietly(saved)

    def _scenario(self, rep: int, scenario: Scenario, who: Implementation) -> None:
        label = scenario.label(self.sizes, who)
        spec, saved = self._spec(scenario, who, rep)
        try:
            measurement = run_worker(self.interpreters[who], spec, self.timeout)
            if saved is not None:
                self._check_saved(saved, measurement)
        except RunFailed as exc:
            self._fail(rep, label, who, str(exc))
        else:
            self.results.add(scenario.key, who, measurement)
            self._progress(rep, label, who, measurement)
        finally:
            if saved is not None:
                self._delete_quietly(saved)

    def _curl(self, rep: int) -> None:
        if self.curl is None:
            return
        source = self.prepared.random
        label = f"curl {self.sizes.big // MIB} MiB"
        try:
            before = self._server_cpu()
            got = curl_get(self.curl, self.store.url(source.name), source.size, self.timeout)
            got = self._with_server_cpu(got, before)
        except RunFailed as exc:
            self._fail(rep, label, "GET", str(exc))
        else:
            self.results.add("curl", "GET", got)
            self._progress(rep, label, "GET", got)
        name = f"curl-put-{rep}.bin"
        try:
            before = self._server_cpu()
            put = curl_put(self.curl, self.store.url(name), self.prepared.random_file, self.timeout)
            put = self._with_server_cpu(put, before)
            self._check_saved(name, put)
        except RunFailed as exc:
            self._fail(rep, label, "PUT", str(exc))
        else:
            self.results.add("curl", "PUT", put)
            self._progress(rep, label, "PUT", put)
        finally:
            self._delete_quietly(name)

    def _memory_load(self, rep: int) -> None:
        """The limit of the many-small-tensors load: torch.load of ours' checkpoint from
        memory, in a fresh process like the scenarios, with our interpreter."""
        blob = self.prepared.small["ours"]
        label = f"torch.load from memory, {blob.n_tensors:,} tensors"
        spec = {
            "scenario": "load_memory",
            "url": self.store.url(blob.name),
            "size": blob.size,
            "n_tensors": blob.n_tensors,
            "tensor_bytes": blob.tensor_bytes,
        }
        try:
            measured = run_worker(self.interpreters["ours"], spec, self.timeout)
        except RunFailed as exc:
            self._fail(rep, label, "memory", str(exc))
        else:
            self.results.add("curl", "memory", measured)
            self._progress(rep, label, "memory", measured)

    def _server_cpu(self) -> tuple[float, float] | None:
        return worker_support.server_cpu(self.server_pid)

    def _with_server_cpu(
        self, measured: Measurement, before: tuple[float, float] | None
    ) -> Measurement:
        """``measured`` with Azurite's CPU time since ``before`` (over curl's whole run,
        which curl's own transfer time slightly undercounts)."""
        spent = worker_support.since(before, self.server_pid)
        if spent is None:
            return measured
        return dataclasses.replace(measured, server_cpu=spent[0], server_thread_cpu=spent[1])

    def _spec(
        self, scenario: Scenario, who: Implementation, rep: int
    ) -> tuple[dict[str, Any], str | None]:
        """The worker's instructions, and the blob it will write (if any)."""
        if scenario.key == "save":
            name = f"saved/{who}-{rep}.pt"
            spec = {
                "url": self.store.url(name),
                "n_tensors": self.sizes.save_tensors,
                "tensor_bytes": self.sizes.save_tensor_bytes,
            }
            return {"scenario": scenario.worker, "server_pid": self.server_pid, **spec}, name
        blob = self._source(scenario, who)
        spec = {
            "url": self.store.url(blob.name),
            "size": blob.size,
            "n_tensors": blob.n_tensors,
            "tensor_bytes": blob.tensor_bytes,
            "samples": {str(k): v for k, v in blob.samples.items()},
            "chunk": self.sizes.chunk,
        }
        return {"scenario": scenario.worker, "server_pid": self.server_pid, **spec}, None

    def _source(self, scenario: Scenario, who: Implementation) -> BlobData:
        if scenario.key == "load":
            return self.prepared.checkpoint
        if scenario.key == "load_small":
            return self.prepared.small[who]
        return self.prepared.random

    def _check_saved(self, name: str, measurement: Measurement) -> None:
        try:
            size = self.store.size_of(name)
        except Exception as exc:
            raise RunFailed(f"the written blob {name} cannot be found: {exc}") from exc
        if size != measurement.size:
            raise RunFailed(f"{name} holds {size} bytes, but {measurement.size} were written")

    def _delete_quietly(self, name: str) -> None:
        try:
            self.store.delete(name)
        except Exception as exc:  # a missing blob after a failed run is expected
            print(f"    (could not delete {name}: {type(exc).__name__})", file=sys.stderr)

    def _progress(self, rep: int, label: str, who: str, m: Measurement) -> None:
        load = machine.load_average()
        if load is not None:
            self.results.loads.append(load)
        peak = "" if m.rss_growth is None else f"  peak +{m.rss_growth / MIB:.0f} MiB"
        parts = []
        if m.server_busy is not None:
            parts.append(f"Azurite {m.server_busy:.2f} cores")
            if m.server_thread_busy is not None:
                parts[-1] += f" (request thread {m.server_thread_busy:.2f})"
        if m.client_busy is not None:
            parts.append(f"client {m.client_busy:.2f}")
        busy = f"  {', '.join(parts)}" if parts else ""
        print(
            f"[{rep}/{self.sizes.reps}] {label:<30} {who:<8} {m.mibps:8.1f} MiB/s"
            f"  {m.seconds:7.2f} s{peak}{busy}",
            flush=True,
        )

    def _fail(self, rep: int, label: str, who: str, message: str) -> None:
        self.results.failures.append(f"rep {rep}, {label}, {who}: {message}")
        first = message.strip().splitlines()[-1] if message.strip() else "failed"
        print(f"[{rep}/{self.sizes.reps}] {label:<30} {who:<8} FAILED: {first}", flush=True)
