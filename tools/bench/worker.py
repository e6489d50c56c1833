"""Run one timed repetition of one scenario; executed as a script in a fresh process.

The orchestrator starts this file with the interpreter of the implementation under
test (``python -I tools/bench/worker.py '<json spec>'``): the development
environment's Python for ours, the upstream virtual environment's Python for
upstream. Isolated mode keeps the repository off ``sys.path``, so ``import
azstoragetorch`` finds exactly the installation of that interpreter.

It imports only the standard library, torch and ``azstoragetorch.io``, prints one
JSON object on its last stdout line and exits 0, or exits non-zero with a traceback.

Timing covers opening the ``BlobIO``, the work and ``close()``; imports and
building the data to save are outside it. Memory is the growth of the peak resident
set size over the timed part: the kernel's peak (``VmHWM``) is reset to the current
size just before timing starts, so the growth is the largest amount of memory the
timed part held at once on top of what the process already had. The CPU time this
process used over the timed part (all its threads) is reported, and, given
``server_pid`` (Azurite's process), the CPU time Azurite used meanwhile: all its
threads, and its main thread alone, which handles every request.
"""

from __future__ import annotations

import re
import resource
import runpy
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Isolated (python -I), this script cannot import tools.bench; it runs the one helper
# it shares with it, which needs only the standard library, from its path.
support = types.SimpleNamespace(
    **runpy.run_path(str(Path(__file__).with_name("worker_support.py")))
)
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


class _Probe:
    """Wall time and peak resident memory growth of the timed part of a scenario."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.method = "VmHWM"
        self.seconds = 0.0
        self.growth = 0
        self.client_cpu = 0.0
        self.server_cpu: float | None = None
        self.server_thread_cpu: float | None = None
        self._before = 0
        self._started = 0.0
        self._client_before = 0.0
        self._server_pid = server_pid
        self._server_before: tuple[float, float] | None = None

    def start(self) -> None:
        """Record the memory baseline (resetting the kernel's peak) and the time."""
        try:
            _CLEAR_REFS.write_text("5")  # "5" resets VmHWM to the current RSS
        except OSError:
            self.method = "ru_maxrss"
        self._before = self._peak()
        self._server_before = support.server_cpu(self._server_pid)
        self._client_before = time.process_time()
        self._started = time.perf_counter()

    def stop(self) -> None:
        """Record the elapsed time and how far the peak rose since ``start``."""
        self.seconds = time.perf_counter() - self._started
        self.client_cpu = time.process_time() - self._client_before
        spent = support.since(self._server_before, self._server_pid)
        if spent is not None:
            self.server_cpu, self.server_thread_cpu = spent
        self.growth = max(0, self._peak() - self._before)

    def _peak(self) -> int:
        if self.method == "VmHWM":
            match = re.search(r"^VmHWM:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
            if match is not None:
                return int(match.group(1)) * 1024
            self.method = "ru_maxrss"
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _checkpoint(n_tensors: int, tensor_bytes: int) -> dict[str, Any]:
    import torch

    numel = tensor_bytes // 4
    return {f"layer{i:05d}.weight": torch.rand(numel) for i in range(n_tensors)}


def _check_state_dict(state: Any, spec: dict[str, Any]) -> None:
    if not isinstance(state, dict) or len(state) != spec["n_tensors"]:
        raise AssertionError(f"loaded {type(state).__name__} of unexpected length")
    numel = sum(int(t.numel()) for t in state.values())
    if numel * 4 != spec["n_tensors"] * spec["tensor_bytes"]:
        raise AssertionError(f"loaded {numel} elements, expected a different count")


def _check_samples(data: bytes | bytearray | memoryview, offset: int, spec: dict[str, Any]) -> int:
    """Compare the sample windows that fall inside ``data`` (at ``offset``); count them."""
    checked = 0
    for start_text, expected_hex in spec["samples"].items():
        start = int(start_text) - offset
        expected = bytes.fromhex(expected_hex)
        if start >= 0 and start + len(expected) <= len(data):
            if bytes(data[start : start + len(expected)]) != expected:
                raise AssertionError(f"wrong bytes at offset {int(start_text)}")
            checked += 1
    return checked


def _run_save(blob_io: Callable[..., Any], spec: dict[str, Any], probe: _Probe) -> int:
    import torch

    state = _checkpoint(spec["n_tensors"], spec["tensor_bytes"])
    probe.start()
    with blob_io(spec["url"], "wb") as f:
        torch.save(state, f)
        written = int(f.tell())
    probe.stop()
    return written


def _run_load(blob_io: Callable[..., Any], spec: dict[str, Any], probe: _Probe) -> int:
    import torch

    probe.start()
    with blob_io(spec["url"], "rb") as f:
        state = torch.load(f, weights_only=True)
    probe.stop()
    _check_state_dict(state, spec)
    return int(spec["size"])


def _run_load_memory(blob_io: Callable[..., Any], spec: dict[str, Any], probe: _Probe) -> int:
    """torch.load from an in-memory copy of the blob: the rate torch.load allows."""
    import io

    import torch

    with blob_io(spec["url"], "rb") as f:
        source = io.BytesIO(f.read())  # not timed
    probe.start()
    state = torch.load(source, weights_only=True)
    probe.stop()
    _check_state_dict(state, spec)
    return int(spec["size"])


def _run_read_all(blob_io: Callable[..., Any], spec: dict[str, Any], probe: _Probe) -> int:
    probe.start()
    with blob_io(spec["url"], "rb") as f:
        data = f.read()
    probe.stop()
    if len(data) != spec["size"]:
        raise AssertionError(f"read() returned {len(data)} bytes, expected {spec['size']}")
    if _check_samples(data, 0, spec) != len(spec["samples"]):
        raise AssertionError("not every sample window was checked")
    return len(data)


def _run_read_chunks(blob_io: Callable[..., Any], spec: dict[str, Any], probe: _Probe) -> int:
    chunk_size = int(spec["chunk"])
    samples = {int(k): bytes.fromhex(v) for k, v in spec["samples"].items()}
    total = 0
    mismatches = 0
    probe.start()
    with blob_io(spec["url"], "rb") as f:
        while chunk := f.read(chunk_size):
            expected = samples.get(total)  # samples sit at chunk boundaries
            if expected is not None and chunk[: len(expected)] != expected:
                mismatches += 1
            total += len(chunk)
    probe.stop()
    if total != spec["size"] or mismatches:
        raise AssertionError(f"read {total} bytes with {mismatches} wrong sample windows")
    return total


_SCENARIOS: dict[str, Callable[[Callable[..., Any], dict[str, Any], _Probe], int]] = {
    "save": _run_save,
    "load": _run_load,
    "load_memory": _run_load_memory,
    "read_all": _run_read_all,
    "read_chunks": _run_read_chunks,
}


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    import azstoragetorch.io
    from azstoragetorch.io import BlobIO

    probe = _Probe(spec.get("server_pid"))
    processed = _SCENARIOS[spec["scenario"]](BlobIO, spec, probe)
    return {
        "bytes": processed,
        "seconds": probe.seconds,
        "rss_growth": probe.growth,
        "rss_method": probe.method,
        "client_cpu_seconds": probe.client_cpu,
        "server_cpu_seconds": probe.server_cpu,
        "server_thread_cpu_seconds": probe.server_thread_cpu,
        "module": azstoragetorch.io.__file__,
    }


if __name__ == "__main__":
    sys.exit(support.worker_main(sys.argv, _run))
