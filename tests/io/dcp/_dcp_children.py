"""What each rank of the distributed checkpoint tests runs, and the state it saves.

Children started with ``spawn`` import this module by name; the parent imports it
too, to build the same state and to check what was loaded.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import torch
from _recording import recording

ROWS, COLS = 512, 64
# Blocks small enough that a rank's share of the embedding takes several uploads, so
# an injected failure lands in the middle of a data blob.
SMALL_BLOCKS = {"block_size": 16 * 1024, "max_buffer": 32 * 1024, "max_concurrency": 2}


def model_and_optimizer(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """A small model and an AdamW that has taken one step: the same for a seed."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 4)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model(torch.randn(4, 16)).sum().backward()
    optimizer.step()
    optimizer.zero_grad()
    return model, optimizer


def embedding() -> torch.Tensor:
    """The full table whose rows the ranks shard; every value is distinct."""
    return torch.arange(ROWS * COLS, dtype=torch.float32).reshape(ROWS, COLS)


def model_state(seed: int) -> dict[str, Any]:
    """``{"model": ..., "optim": ...}`` as ``get_state_dict`` gives them."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model, optimizer = model_and_optimizer(seed)
    model_sd, optim_sd = get_state_dict(model, optimizer)
    return {"model": model_sd, "optim": optim_sd}


def differences(loaded: Any, expected: Any, path: str = "") -> list[str]:
    """Where two nested state dicts differ (empty when equal)."""
    if isinstance(expected, dict):
        if not isinstance(loaded, dict) or set(loaded) != set(expected):
            return [f"{path}: keys differ"]
        return [
            d for key in expected for d in differences(loaded[key], expected[key], f"{path}.{key}")
        ]
    if isinstance(expected, (list, tuple)):
        if len(loaded) != len(expected):
            return [f"{path}: lengths differ"]
        return [
            d
            for i, (a, b) in enumerate(zip(loaded, expected, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    if isinstance(expected, torch.Tensor):
        same = isinstance(loaded, torch.Tensor) and torch.equal(loaded, expected)
        return [] if same else [f"{path}: tensors differ"]
    return [] if loaded == expected else [f"{path}: {loaded!r} != {expected!r}"]


def uploads_fail_after(count: int | None) -> Any:
    """For ``recording(fail=...)``: fail every upload to a data blob after ``count``."""
    if count is None:
        return None
    uploads = itertools.count()
    return lambda r: r.method == "PUT" and ".distcp" in r.url and next(uploads) >= count


def failures(error: BaseException) -> dict[str, str]:
    """A CheckpointException's failures by rank: ``"ExceptionType: message"``."""
    found = getattr(error, "failures", None)
    if found is None:
        return {"local": f"{type(error).__name__}: {error}"}
    return {str(rank): f"{type(exc).__name__}: {exc}" for rank, (exc, _trace) in found.items()}


def run_rank(
    rank: int, world_size: int, credential: Any, scenario: str, base_url: str, out_dir: str
) -> None:
    """One rank of a gloo group: run ``scenario`` and write what happened as JSON."""
    run = {"save": _save_scenarios, "load": _load_scenario}[scenario]
    report = run(rank, world_size, base_url, credential)
    Path(out_dir, f"{scenario}-rank{rank}.json").write_text(json.dumps(report))


def _sharded(table: torch.Tensor, world_size: int) -> Any:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    mesh = init_device_mesh("cpu", (world_size,))
    return distribute_tensor(table, mesh, [Shard(0)])


def _save_scenarios(rank: int, world_size: int, base_url: str, credential: Any) -> dict[str, Any]:
    """Save with 2 ranks: a checkpoint, a refused save, failing saves, an async save."""
    import torch.distributed.checkpoint as dcp

    from azstoragetorch.io._writer import WriteOptions
    from azstoragetorch.io.dcp import BlobStorageReader, BlobStorageWriter

    report: dict[str, Any] = {}
    state = {**model_state(0), "embed": _sharded(embedding(), world_size), "step": 7}
    good, bad, later = (f"{base_url}/{name}" for name in ("good", "bad", "async"))
    small = WriteOptions(**SMALL_BLOCKS)

    dcp.save(state, storage_writer=BlobStorageWriter(good, credential=credential))

    # The default refuses to replace it, on every rank, before writing anything.
    refused = BlobStorageWriter(good, credential=credential)
    try:
        dcp.save(state, storage_writer=refused)
    except BaseException as error:
        report["refused"] = failures(error)
    report["refused_save_id"] = refused._save_id

    # Rank 1's third upload fails, in the middle of its data: the save fails everywhere.
    writer = BlobStorageWriter(bad, credential=credential, write_options=small)
    with recording(fail=uploads_fail_after(2 if rank == 1 else None)):
        try:
            dcp.save(state, storage_writer=writer)
        except BaseException as error:
            report["failed"] = failures(error)

    # The same through async_save, replacing the good checkpoint: the future fails.
    writer = BlobStorageWriter(good, credential=credential, overwrite=True, write_options=small)
    with recording(fail=uploads_fail_after(2 if rank == 1 else None)):
        response = dcp.async_save(state, storage_writer=writer)
        upload = getattr(response, "upload_completion", response)
        try:
            upload.result()
        except BaseException as error:
            report["async_failed"] = failures(error)

    response = dcp.async_save(state, storage_writer=BlobStorageWriter(later, credential=credential))
    getattr(response, "upload_completion", response).result()

    # Load back on the same two ranks into differently initialised state.
    target = {**model_state(1), "embed": _sharded(torch.zeros(ROWS, COLS), world_size), "step": 0}
    dcp.load(target, storage_reader=BlobStorageReader(good, credential=credential))
    expected = {**model_state(0), "step": 7}
    report["round_trip"] = differences({k: target[k] for k in expected}, expected)
    rows = embedding().chunk(world_size)[rank]
    report["embed_equal"] = bool(torch.equal(target["embed"].to_local(), rows))
    return report


def _load_scenario(rank: int, world_size: int, base_url: str, credential: Any) -> dict[str, Any]:
    """Load the 2-rank checkpoint with ``world_size`` ranks, the embedding resharded."""
    import torch.distributed.checkpoint as dcp

    from azstoragetorch.io.dcp import BlobStorageReader

    good = f"{base_url}/good"
    shard = {"embed": _sharded(torch.zeros(ROWS, COLS), world_size)}
    with recording() as counted:
        dcp.load(shard, storage_reader=BlobStorageReader(good, credential=credential))
    rows = embedding().chunk(world_size)[rank]
    target = {**model_state(1), "step": 0}
    dcp.load(target, storage_reader=BlobStorageReader(good, credential=credential))
    return {
        "embed_equal": bool(torch.equal(shard["embed"].to_local(), rows)),
        "embed_bytes_fetched": counted.ranged_bytes(".distcp"),
        "shard_bytes": rows.numel() * rows.element_size(),
        "round_trip": differences(target, {**model_state(0), "step": 7}),
    }
