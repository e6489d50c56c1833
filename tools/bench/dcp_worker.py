"""One rank of a distributed checkpoint scenario; executed as a script in a fresh process.

``python -I tools/bench/dcp_worker.py '<json spec>'``: the orchestrator
(``tools/bench/dcp.py``) starts one process per rank. It imports only the standard
library, torch and ``azstoragetorch``, prints one JSON object on its last stdout line
and exits 0, or exits non-zero with a traceback.

Each rank owns distinct keys (``rank<r>.layer<i>``), so the ranks together hold one
state dict of the scenario's size. The timed part runs from a barrier before
``dcp.save``/``dcp.load`` to a barrier after it, so every rank reports the same
wall time: that of the slowest rank.
"""

from __future__ import annotations

import runpy
import sys
import threading
import time
import types
import warnings
from pathlib import Path
from typing import Any

# Isolated (python -I), this script cannot import tools.bench; it runs the helper it
# shares with the other workers, which needs only the standard library, from its path.
support = types.SimpleNamespace(
    **runpy.run_path(str(Path(__file__).with_name("worker_support.py")))
)


def _keys(spec: dict[str, Any], rank: int) -> list[str]:
    share = spec["n_tensors"] // spec["world_size"]
    return [f"rank{rank}.layer{i:03d}" for i in range(rank * share, (rank + 1) * share)]


def _state(spec: dict[str, Any], rank: int, fill: bool) -> dict[str, Any]:
    import torch

    numel = spec["tensor_bytes"] // 4
    make = torch.rand if fill else torch.zeros
    return {key: make(numel) for key in _keys(spec, rank)}


def _storage(spec: dict[str, Any], saving: bool) -> Any:
    from torch.distributed.checkpoint.filesystem import FileSystemReader, FileSystemWriter

    from azstoragetorch.io.dcp import BlobStorageReader, BlobStorageWriter

    if spec["storage"] == "fs":
        return FileSystemWriter(spec["path"]) if saving else FileSystemReader(spec["path"])
    # The SAS in the URL authorises; credential=False keeps azure-identity out.
    if saving:
        return BlobStorageWriter(spec["url"], credential=False)
    return BlobStorageReader(spec["url"], credential=False)


class _Counter:
    """Wraps the process's transport and adds up the body bytes GET responses carry.

    What the service sends, not what the ranges ask for: the metadata blob is
    opened with a read-ahead range far larger than the blob.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.fetched = 0

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = self._inner.send(request, **kwargs)
        if request.method == "GET" and response.status_code < 300:
            with self._lock:
                self.fetched += int(response.headers.get("Content-Length", 0))
        return response


def _partial(spec: dict[str, Any]) -> dict[str, Any]:
    """Load every tenth key of the whole checkpoint in one process; count bytes fetched."""
    import torch
    from torch.distributed.checkpoint.state_dict_loader import load

    from azstoragetorch._core import _shared_transport

    everything = [key for rank in range(spec["world_size"]) for key in _keys(spec, rank)]
    wanted = {key: torch.zeros(spec["tensor_bytes"] // 4) for key in everything[::10]}
    counter = _Counter(_shared_transport.shared_transport())
    # A stand-in with send() is all ProcessLocalTransport calls on it.
    _shared_transport.shared_transport = lambda: counter  # type: ignore[assignment,return-value]
    started = time.perf_counter()
    load(wanted, storage_reader=_storage(spec, saving=False))
    seconds = time.perf_counter() - started
    needed = sum(t.numel() * t.element_size() for t in wanted.values())
    return {"bytes": needed, "seconds": seconds, "fetched": counter.fetched}


def _rank(spec: dict[str, Any]) -> dict[str, Any]:
    import torch.distributed
    from torch.distributed.checkpoint.state_dict_loader import load
    from torch.distributed.checkpoint.state_dict_saver import save

    rank, world_size = spec["rank"], spec["world_size"]
    torch.distributed.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{spec['port']}",
        rank=rank,
        world_size=world_size,
    )
    try:
        saving = spec["action"] == "save"
        state = _state(spec, rank, fill=saving)
        storage = _storage(spec, saving)
        torch.distributed.barrier()
        started = time.perf_counter()
        if saving:
            save(state, storage_writer=storage)
        else:
            load(state, storage_reader=storage)
        torch.distributed.barrier()
        seconds = time.perf_counter() - started
        if not saving and not all(bool(t.any()) for t in state.values()):
            raise AssertionError("a loaded tensor is still all zeros")
        size = sum(t.numel() * t.element_size() for t in state.values())
        return {"bytes": size, "seconds": seconds}
    finally:
        torch.distributed.destroy_process_group()


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    warnings.simplefilter("ignore")  # DCP's notices would only clutter the log
    return _partial(spec) if spec["action"] == "partial" else _rank(spec)


if __name__ == "__main__":
    sys.exit(support.worker_main(sys.argv, _run))
