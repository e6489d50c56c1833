"""Transforms and process entry points that child processes import by name."""

from __future__ import annotations

import json
from pathlib import Path

from azstoragetorch.datasets import Blob


def name_and_data(blob: Blob) -> tuple[str, bytes]:
    """A transform: the blob's name and content."""
    with blob.reader() as f:
        return blob.blob_name, f.read()


def name_only(blob: Blob) -> str:
    """A transform that never reads the blob."""
    return blob.blob_name


def run_rank(
    rank: int, world_size: int, credential: object, container_url: str, out_dir: str
) -> None:
    """One rank of a gloo process group: record which samples each dataset yields here."""
    import torch.distributed
    from torch.utils.data import DataLoader, DistributedSampler

    from azstoragetorch.datasets import BlobDataset, IterableBlobDataset

    results: dict[str, list[str]] = {}
    iterable = IterableBlobDataset.from_container_url(
        container_url, credential=credential, transform=name_only
    )
    results["main"] = list(iterable)
    for context in ("fork", "spawn"):
        loader = DataLoader(
            iterable, batch_size=None, num_workers=2, multiprocessing_context=context
        )
        results[context] = list(loader)
    mapped = BlobDataset.from_container_url(
        container_url, credential=credential, transform=name_only
    )
    sampler = DistributedSampler(mapped, shuffle=False)
    results["map"] = [name for batch in DataLoader(mapped, 3, sampler=sampler) for name in batch]
    # Every rank reached this point together: the group really works.
    gathered: list[object] = [None] * world_size
    torch.distributed.all_gather_object(gathered, len(results["main"]))
    results["gathered"] = gathered  # type: ignore[assignment]
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))
