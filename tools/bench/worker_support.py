"""What the worker scripts share; the standard library only.

Every worker (``worker.py``, ``dcp_worker.py``, ``dataset_worker.py``) runs as
``python -I <worker> '<json spec>'`` and prints one JSON object on its last stdout
line: ``worker_main`` is that skeleton. The storage server's CPU time comes from
Linux's ``/proc``: Azurite answers every request on Node's main thread (the
JavaScript event loop); its other threads do file I/O, hashing and garbage
collection. The benchmark reads the whole process's CPU time and that one thread's:
its share of the wall time shows whether the emulator had any capacity left.

The orchestrator imports this module as part of ``tools.bench``. The worker
scripts, which run isolated (``python -I``, so not even their own folder is on
``sys.path``), load it by its path.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any


def cpu_seconds(pid: int, *, main_thread: bool = False) -> float | None:
    """User + system CPU seconds of process ``pid``, or of its main thread only."""
    stat = f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat"
    try:
        with open(stat) as file:
            # utime and stime, in clock ticks: the 14th and 15th fields.
            utime, stime = file.read().rsplit(")", 1)[1].split()[11:13]
    except (OSError, ValueError):
        return None
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int | None) -> tuple[float, float] | None:
    """The server's CPU seconds so far: all its threads, and its request thread."""
    if pid is None:
        return None
    total = cpu_seconds(pid)
    thread = cpu_seconds(pid, main_thread=True)
    return None if total is None or thread is None else (total, thread)


def since(before: tuple[float, float] | None, pid: int | None) -> tuple[float, float] | None:
    """The server's CPU seconds (all threads, request thread) since ``before``."""
    after = server_cpu(pid)
    if before is None or after is None:
        return None
    return after[0] - before[0], after[1] - before[1]


def read_samples(iterator: Iterator[Any], wanted: int, blob_bytes: int) -> int:
    """Take DataLoader batches (``{"data": [...]}``) until ``wanted`` samples, each
    checked to hold ``blob_bytes``; returns how many were taken."""
    seen = 0
    for batch in iterator:
        for data in batch["data"]:
            if len(data) != blob_bytes:
                raise AssertionError(f"a sample holds {len(data)} bytes")
        seen += len(batch["data"])
        if seen >= wanted:
            break
    return seen


def worker_main(argv: list[str], run: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Run a worker: ``run`` gets the JSON spec of ``argv[1]``; its result is printed
    as JSON on the last line. The spec's ``sys_path`` (another revision's sources,
    for ``tools.bench.compare``) goes first on ``sys.path``."""
    spec = json.loads(argv[1])
    sys.path[:0] = spec.get("sys_path", [])
    print(json.dumps(run(spec)))
    return 0
