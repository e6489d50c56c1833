"""Transforms and process entry points that child processes import by name."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Literal

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
        container_url, credential=credential, transform=name_only, uneven_shares="uneven"
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


def run_rank_shares(
    rank: int, world_size: int, credential: object, container_url: str, out_dir: str
) -> None:
    """One rank of a gloo group: each uneven_shares mode, shuffling, and DDP-style steps.

    DataLoader workers are started only where the share of a worker is what is
    checked (padding, and the shuffled epochs); everything else iterates in the rank.
    """
    import torch
    import torch.distributed
    from torch.utils.data import DataLoader, DistributedSampler

    from azstoragetorch.datasets import BlobDataset, IterableBlobDataset

    results: dict[str, object] = {}

    def progress(step: str) -> None:  # where a rank got to, should the test time out
        with Path(out_dir, f"progress{rank}").open("a") as log:
            log.write(step + "\n")

    def dataset(
        uneven_shares: Literal["pad", "drop", "uneven"] = "pad", shard_by_rank: bool = True
    ) -> IterableBlobDataset[str]:
        return IterableBlobDataset.from_container_url(
            container_url,
            credential=credential,
            transform=name_only,
            uneven_shares=uneven_shares,
            shard_by_rank=shard_by_rank,
        )

    results["pad"] = list(DataLoader(dataset(uneven_shares="pad"), batch_size=None, num_workers=2))
    results["drop"] = list(dataset(uneven_shares="drop"))
    results["uneven"] = list(dataset(uneven_shares="uneven"))
    results["unsharded"] = list(dataset(shard_by_rank=False))
    progress("shares")
    # What DDP does each step: every rank joins an all-reduce per batch. With
    # unequal batch counts, one rank would wait in it for the others forever.
    for mode in ("pad", "drop"):
        steps = 0
        for batch in DataLoader(dataset(uneven_shares=mode), batch_size=2):
            total = torch.tensor([len(batch)])
            torch.distributed.all_reduce(total)
            steps += 1
        results[f"steps-{mode}"] = steps
        progress(f"steps-{mode}")
    shuffled = IterableBlobDataset.from_container_url(
        container_url,
        credential=credential,
        transform=name_only,
        shuffle=True,
        seed=11,
        uneven_shares="uneven",
        shuffle_buffer_size=4,
    )
    for epoch in (0, 1):
        shuffled.set_epoch(epoch)
        results[f"shuffled-{epoch}"] = list(DataLoader(shuffled, batch_size=None, num_workers=2))
    progress("shuffled")
    mapped = BlobDataset.from_container_url(
        container_url, credential=credential, transform=name_only
    )
    sampler = DistributedSampler(mapped, shuffle=True, seed=3)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        results[f"sampler-{epoch}"] = [
            name for batch in DataLoader(mapped, 2, sampler=sampler) for name in batch
        ]
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))


def fill_cache(
    container_url: str,
    account: str,
    key: str,
    cache_dir: str,
    out: str,
    start: threading.Barrier,
) -> None:
    """Read every blob through the cache in ``cache_dir``, starting when every
    process passes ``start``; record the samples and the GETs sent."""
    from _recording import recording  # type: ignore[import-not-found]
    from azure.core.credentials import AzureNamedKeyCredential
    from torch.utils.data import DataLoader

    from azstoragetorch.datasets import IterableBlobDataset

    dataset = IterableBlobDataset.from_container_url(
        container_url,
        credential=AzureNamedKeyCredential(account, key),
        cache_dir=cache_dir,
        transform=name_and_data,
    )
    with recording() as recorder:
        start.wait(60)
        samples = {name: data.hex() for name, data in DataLoader(dataset, batch_size=None)}
    gets = sum(1 for r in recorder.requests if r.method == "GET" and "comp=list" not in r.url)
    Path(out).write_text(json.dumps({"samples": samples, "gets": gets}))


def run_rank_epochs(
    rank: int, world_size: int, credential: object, container_url: str, out_dir: str
) -> None:
    """One rank of a gloo group: two epochs through a DataLoader of two workers.

    Forked workers: ``run_rank`` covers spawned ones under ranks, and each spawned
    worker would cost a torch import per epoch.
    """
    from torch.utils.data import DataLoader

    from azstoragetorch.datasets import IterableBlobDataset

    dataset = IterableBlobDataset.from_container_url(
        container_url, credential=credential, transform=name_only, uneven_shares="uneven"
    )
    loader = DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context="fork")
    epochs = [list(loader) for _ in range(2)]
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(epochs))


def second_worker_starts_late(worker_id: int) -> None:
    """A ``worker_init_fn``: worker 1 starts iterating 3 s after worker 0.

    Not to make a test pass but to let worker 0 finish one dataset of a chain and
    start the next before worker 1 has started the first.
    """
    import time

    if worker_id == 1:
        time.sleep(3)
