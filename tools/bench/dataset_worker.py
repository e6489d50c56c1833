"""Run one timed repetition of a dataset scenario; executed as a script in a fresh process.

Started like ``worker.py`` (``python -I tools/bench/dataset_worker.py '<json spec>'``)
with the interpreter of the implementation under test. It imports the standard
library, torch and ``azstoragetorch.datasets`` only, and prints one JSON object on
its last stdout line.

Scenarios:

``list``
    Time ``BlobDataset.from_container_url(url)``, which lists the container.
``raw``
    GET the named blobs with ``http.client`` keep-alive connections, ``connections``
    at once, checking each size; report the wall-clock start and end, so that the
    orchestrator can run several of these processes at once and time them together.
    Imports nothing outside the standard library.
``map`` / ``iterable``
    Build the dataset (not timed), then time a ``DataLoader`` with ``workers``
    worker processes and ``batch_size`` over the first ``samples`` samples, checking
    every sample's size. With ``list_in_epoch``, the map-style dataset is built
    inside the timed loop: its listing is timed too, as the iterable one's is. CPU
    time covers this process and its worker processes, and, given ``server_pid``,
    the CPU time Azurite used over the same loop: all its threads, and its main
    thread alone, which handles every request. For ours, the
    List Blobs requests are counted at the transport seam (in forked workers too):
    those sent while the dataset was built, and those sent during the timed loop.
"""

from __future__ import annotations

import gc
import os
import resource
import runpy
import sys
import time
import types
from pathlib import Path
from typing import Any

# Isolated (python -I), this script cannot import tools.bench; it runs the one helper
# it shares with it, which needs only the standard library, from its path.
support = types.SimpleNamespace(
    **runpy.run_path(str(Path(__file__).with_name("worker_support.py")))
)


def _cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def raw_gets(spec: dict[str, Any]) -> dict[str, Any]:
    """The ``raw`` scenario (also run in the orchestrator's own process)."""
    import concurrent.futures
    import http.client

    connections = int(spec["connections"])
    names = list(spec["names"])

    def fetch(share: list[str]) -> None:
        connection = http.client.HTTPConnection(spec["netloc"], timeout=60)
        try:
            for name in share:
                connection.request("GET", f"{spec['path']}/{name}?{spec['sas']}")
                response = connection.getresponse()
                body = response.read()
                if response.status != 200 or len(body) != spec["blob_bytes"]:
                    raise AssertionError(f"GET {name}: HTTP {response.status}, {len(body)} bytes")
        finally:
            connection.close()

    started = time.time()  # wall clock: comparable across processes
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        list(pool.map(fetch, [names[i::connections] for i in range(connections)]))
    return {"samples": len(names), "started": started, "ended": time.time()}


def _list(spec: dict[str, Any]) -> dict[str, Any]:
    from azstoragetorch.datasets import BlobDataset

    started = time.perf_counter()
    dataset = BlobDataset.from_container_url(spec["container_url"])
    seconds = time.perf_counter() - started
    if len(dataset) != spec["expected"]:
        raise AssertionError(f"listed {len(dataset)} blobs, expected {spec['expected']}")
    return {"samples": len(dataset), "seconds": seconds, "cpu_seconds": None}


class _ListingCounter:
    """Counts List Blobs requests of this process and its forked children in a file.

    Each request appends a byte, so the count survives the workers that sent them.
    """

    def __init__(self) -> None:
        import multiprocessing
        import tempfile

        from azstoragetorch._core import _shared_transport

        handle, self.path = tempfile.mkstemp(prefix="bench-listings-")
        os.close(handle)
        # Workers forked by the DataLoader inherit the wrapper; others would not.
        self.reliable = multiprocessing.get_start_method() == "fork"
        original = _shared_transport.shared_transport
        path = self.path

        class Counting:
            def __init__(self, inner: Any) -> None:
                self._inner = inner

            def send(self, request: Any, **kwargs: Any) -> Any:
                if "comp=list" in request.url:
                    with open(path, "ab") as tally:
                        tally.write(b"L")
                return self._inner.send(request, **kwargs)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

        _shared_transport.shared_transport = lambda: Counting(original())  # type: ignore[assignment,return-value]

    def count(self) -> int | None:
        return os.path.getsize(self.path) if self.reliable else None

    def close(self) -> None:
        os.unlink(self.path)


def _counter() -> _ListingCounter | None:
    try:
        return _ListingCounter()
    except ImportError:  # upstream has no such seam
        return None


def _load(spec: dict[str, Any]) -> dict[str, Any]:
    import torch.utils.data

    from azstoragetorch.datasets import BlobDataset, IterableBlobDataset

    counter = _counter()
    wanted = int(spec["samples"])

    def build() -> Any:
        if spec["scenario"] == "map":
            dataset: Any = BlobDataset.from_container_url(spec["container_url"])
            if wanted < len(dataset):
                dataset = torch.utils.data.Subset(dataset, range(wanted))
        else:
            dataset = IterableBlobDataset.from_container_url(spec["container_url"])
        return torch.utils.data.DataLoader(
            dataset, batch_size=spec["batch_size"], num_workers=spec["workers"]
        )

    in_epoch = bool(spec.get("list_in_epoch"))
    loader = None if in_epoch else build()
    built = counter.count() if counter is not None else None
    server_before = support.server_cpu(spec.get("server_pid"))
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if loader is None:
        loader = build()
    iterator = iter(loader)
    seen = support.read_samples(iterator, wanted, spec["blob_bytes"])
    seconds = time.perf_counter() - started
    spent = support.since(server_before, spec.get("server_pid"))
    del iterator, loader  # ends the worker processes, so their CPU time is counted
    gc.collect()
    cpu = _cpu_seconds() - cpu_before
    listed = counter.count() if counter is not None else None
    if counter is not None:
        counter.close()
    if seen < wanted:
        raise AssertionError(f"the DataLoader gave {seen} samples, expected {wanted}")
    server, thread = spent if spent is not None else (None, None)
    return {
        "samples": seen,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "server_cpu_seconds": server,
        "server_thread_cpu_seconds": thread,
        "listing_requests_built": built,
        "listing_requests": None if listed is None or built is None else listed - built,
    }


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    if spec["scenario"] == "raw":
        return raw_gets(spec)
    import azstoragetorch.datasets

    result = _list(spec) if spec["scenario"] == "list" else _load(spec)
    result["module"] = azstoragetorch.datasets.__file__
    return result


if __name__ == "__main__":
    sys.exit(support.worker_main(sys.argv, _run))
