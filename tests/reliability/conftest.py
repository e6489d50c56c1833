"""Fixtures of the reliability tests: the fault proxy, fast retries, a leak check."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator

import psutil
import pytest
from _fault_proxy import FaultProxy
from _reliability import BOUND_S, SOAK_ENV

from azstoragetorch._core import _shared_transport
from azstoragetorch.datasets._read_ahead import MAX_THREADS

# How long a connection still in use by an unfinished read-ahead may take to close.
SETTLE_S = 5.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the soak tests unless asked for: they run for minutes.

    Deselected, not skipped: the report counts them as deselected, never as passed,
    and a CI run (which fails on any skip) stays green without them.
    """
    if os.environ.get(SOAK_ENV):
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if item not in soak]


@pytest.fixture
def proxy(azurite) -> Iterator[FaultProxy]:  # type: ignore[no-untyped-def]
    """A fault proxy in front of the session's Azurite, closed (and joined) after."""
    with FaultProxy(azurite.port) as fault_proxy:
        yield fault_proxy


def _close_pool() -> None:
    # The process's connection pool keeps idle keep-alive sockets by design; closing
    # it makes every socket still open afterwards one that something else holds.
    _shared_transport.shared_transport().close()


def _library_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t is not threading.main_thread()]


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves a thread or a file descriptor behind, or runs too long.

    Request it first, before the proxy and containers, so that their own threads and
    sockets must be gone too when it checks. The datasets' per-process read-ahead
    pool is the one thing allowed to remain: it is kept for the process's life.
    """
    _close_pool()
    gc.collect()
    process = psutil.Process()
    threads_before = {t.ident for t in _library_threads()}
    fds_before = process.num_fds()
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    _close_pool()
    gc.collect()
    new_threads = [t for t in _library_threads() if t.ident not in threads_before]
    pooled = [t for t in new_threads if t.name.startswith("azstoragetorch-dataset")]
    leaked = [t.name for t in new_threads if t not in pooled]
    assert not leaked, f"threads left running: {leaked}"
    assert len(pooled) <= MAX_THREADS
    # A blob the iterable dataset was reading ahead when the test's error stopped it
    # finishes on a pool thread and then closes its connection: wait for that (a
    # leak stays open however long we wait).
    settle_by = time.monotonic() + SETTLE_S
    while process.num_fds() > fds_before and time.monotonic() < settle_by:
        time.sleep(0.05)
        _close_pool()
        gc.collect()
    fds_after = process.num_fds()
    assert fds_after <= fds_before, (
        f"{fds_after - fds_before} file descriptors left open: "
        f"{[c for c in process.net_connections('inet')]}"
    )
    assert elapsed < BOUND_S, f"took {elapsed:.1f} s"
