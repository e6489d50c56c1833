"""Soak: minutes of save/load cycles must not grow memory, threads or sockets.

Opt-in: set ``AZSTORAGETORCH_SOAK_SECONDS`` (e.g. 180) to run it; otherwise it is
deselected (see conftest.py), so a run reports it as deselected, never as passed.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import NamedTuple

import psutil
import pytest
import torch
from _reliability import SOAK_ENV

from azstoragetorch._core import _shared_transport
from azstoragetorch.io import BlobIO
from azstoragetorch.options import ClientOptions

MIB = 1024 * 1024
# A checkpoint of 4 MiB, in blocks and parts small enough that every cycle stages
# several blocks and reads in parallel parts: the paths that start threads.
SHAPE = (256, 512)
LAYERS = 8
CHECKPOINT_BYTES = LAYERS * SHAPE[0] * SHAPE[1] * 4
WRITE = ClientOptions(block_size=1 * MIB, max_concurrency=4)
READ = ClientOptions(read_ahead=256 * 1024, part_size=MIB)
# The first cycles load code, fill the allocator's caches and open the pool's connections.
WARM_UP_S = 15.0
# RSS wobbles with the allocator; a leak of even a few bytes per cycle's 4 MiB
# buffers would pass this within the first hundred cycles.
RSS_SLACK = 32 * MIB


class Sample(NamedTuple):
    rss: int
    threads: int
    native_threads: int
    sockets: int


def measure(process: psutil.Process) -> Sample:
    """Counts with the connection pool closed: the sockets left are ones someone leaked."""
    _shared_transport.shared_transport().close()
    gc.collect()
    return Sample(
        rss=process.memory_info().rss,
        threads=threading.active_count(),
        native_threads=process.num_threads(),
        sockets=len(process.net_connections("inet")),
    )


def checkpoint(cycle: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(cycle)
    return {f"layer{i}": torch.randn(*SHAPE, generator=generator) for i in range(LAYERS)}


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_save_load_cycles_do_not_grow_memory_threads_or_sockets(container, key):
    duration = float(os.environ[SOAK_ENV])
    assert duration >= WARM_UP_S * 4, f"{SOAK_ENV} must be at least {WARM_UP_S * 4:.0f} seconds"
    process = psutil.Process()
    url = f"{container.url}/soak/model.pt"

    def cycle(index: int) -> None:
        saved = checkpoint(index)
        with BlobIO(url, "wb", credential=key, options=WRITE) as f:
            torch.save(saved, f)
        with BlobIO(url, "rb", credential=key, options=READ) as f:
            loaded = torch.load(f, weights_only=True)
        assert loaded.keys() == saved.keys()
        assert all(torch.equal(loaded[name], saved[name]) for name in saved), index

    started = time.monotonic()
    cycles = 0
    while time.monotonic() - started < WARM_UP_S:
        cycle(cycles)
        cycles += 1
    baseline = measure(process)
    samples = [baseline]
    while time.monotonic() - started < duration:
        cycle(cycles)
        cycles += 1
        if cycles % 20 == 0:
            samples.append(measure(process))
    final = measure(process)
    samples.append(final)
    elapsed = time.monotonic() - started
    peak = max(s.rss for s in samples)
    print(
        f"\nsoak: {cycles} save/load cycles of a {CHECKPOINT_BYTES // MIB} MiB checkpoint"
        f" in {elapsed:.0f} s; RSS {baseline.rss / MIB:.1f} -> {final.rss / MIB:.1f} MiB"
        f" (peak {peak / MIB:.1f}); Python threads {baseline.threads} -> {final.threads};"
        f" OS threads {baseline.native_threads} -> {final.native_threads};"
        f" sockets {baseline.sockets} -> {final.sockets}"
    )
    assert [s.threads for s in samples] == [baseline.threads] * len(samples)
    assert max(s.native_threads for s in samples) <= baseline.native_threads
    assert [s.sockets for s in samples] == [baseline.sockets] * len(samples)
    assert final.rss - baseline.rss < RSS_SLACK
    assert peak - baseline.rss < RSS_SLACK
