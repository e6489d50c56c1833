"""Which samples of an iterable dataset a DataLoader worker of a rank yields.

Samples are dealt out in epoch order (the listing order, or its shuffle) like
cards: first across the ranks of an initialised ``torch.distributed`` process
group, then, within a rank, across its DataLoader workers. Sample ``i`` goes to rank
``i % world_size``, and within that rank to worker ``(i // world_size) % num_workers``.
So every sample is yielded once, and a single rank's DataLoader with
``batch_size=1`` yields the samples in epoch order.

When the number of samples is not a multiple of ``world_size``, the last round of
the deal is incomplete; ``uneven_shares`` says what to do with it:

* ``"pad"``: complete it with samples from the start of the epoch, so every rank
  yields ``ceil(n / world_size)`` samples (as ``DistributedSampler`` does);
* ``"drop"``: leave it out, so every rank yields ``n // world_size`` samples;
* ``"uneven"``: deal it as far as it goes; shares differ by at most one.

Both ``"pad"`` and ``"drop"`` work on the lazy listing: ``"drop"`` looks ahead at
most ``world_size - 1`` entries, ``"pad"`` keeps the first ``world_size - 1``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Literal, TypeVar

import torch.distributed
import torch.utils.data

__all__ = [
    "UNEVEN_SHARES",
    "ProcessGroup",
    "UnevenShares",
    "check_sharding",
    "process_group",
    "rank_share",
    "shard",
    "slice_of",
    "worker_info",
]

# (rank, world_size)
ProcessGroup = tuple[int, int]
UnevenShares = Literal["pad", "drop", "uneven"]
UNEVEN_SHARES: tuple[UnevenShares, ...] = ("pad", "drop", "uneven")
_Item = TypeVar("_Item")


def check_sharding(shard_by_rank: object, uneven_shares: object) -> None:
    if not isinstance(shard_by_rank, bool):
        raise TypeError(f"shard_by_rank must be True or False, not {type(shard_by_rank).__name__}.")
    if uneven_shares not in UNEVEN_SHARES:
        raise ValueError(
            f"uneven_shares must be one of 'pad', 'drop' or 'uneven', not {uneven_shares!r}."
        )


def process_group() -> ProcessGroup | None:
    """This process's rank and world size, if ``torch.distributed`` is initialised."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return None


def worker_info() -> tuple[int, int]:
    """``(worker, num_workers)`` of this DataLoader worker; ``(0, 1)`` outside one."""
    info = torch.utils.data.get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


def shard(recorded: ProcessGroup | None) -> tuple[int, int]:
    """``(start, step)``: this worker takes samples ``start``, ``start + step``, ...

    :param recorded: The process group seen where the dataset was pickled for a
        ``spawn`` or ``forkserver`` worker, which does not join the group itself.
    """
    rank, world_size = process_group() or recorded or (0, 1)
    worker, num_workers = worker_info()
    return slice_of(rank, world_size, worker, num_workers)


def slice_of(rank: int, world_size: int, worker: int, num_workers: int) -> tuple[int, int]:
    """``(start, step)`` of the samples of ``worker`` of ``rank``."""
    return rank + worker * world_size, world_size * num_workers


def rank_share(
    items: Iterable[_Item], rank: int, world_size: int, uneven_shares: UnevenShares
) -> Iterator[_Item]:
    """The items dealt to ``rank``, in order, completing the last round as told."""
    if world_size == 1:
        yield from items
        return
    if uneven_shares == "uneven":
        yield from itertools.islice(items, rank, None, world_size)
        return
    head: list[_Item] = []  # the first world_size - 1 items, to pad with
    round_: list[_Item] = []
    for item in items:
        if len(head) < world_size - 1:
            head.append(item)
        round_.append(item)
        if len(round_) == world_size:
            yield round_[rank]
            round_.clear()
    if round_ and uneven_shares == "pad":
        padding = itertools.cycle(head)
        while len(round_) < world_size:
            round_.append(next(padding))
        yield round_[rank]
