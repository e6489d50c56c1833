"""Which samples of an iterable dataset a DataLoader worker of a rank yields.

Samples are dealt out in listing order like cards: first across the ranks of an
initialised ``torch.distributed`` process group, then, within a rank, across its
DataLoader workers. Sample ``i`` goes to rank ``i % world_size``, and within that
rank to worker ``(i // world_size) % num_workers``. So every sample is yielded
exactly once, each rank gets an equal share within one sample, and a single rank's
DataLoader with ``batch_size=1`` yields the samples in listing order.

Shard ``rank * num_workers + worker`` of the ``world_size * num_workers`` shards is
thus the slice of the listing that starts at ``rank + worker * world_size`` and
takes every ``world_size * num_workers``-th sample.
"""

from __future__ import annotations

import torch.distributed
import torch.utils.data

__all__ = ["ProcessGroup", "process_group", "shard", "slice_of"]

# (rank, world_size)
ProcessGroup = tuple[int, int]


def process_group() -> ProcessGroup | None:
    """This process's rank and world size, if ``torch.distributed`` is initialised."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return None


def shard(recorded: ProcessGroup | None) -> tuple[int, int]:
    """``(start, step)``: this worker takes samples ``start``, ``start + step``, ...

    :param recorded: The process group seen where the dataset was pickled for a
        ``spawn`` or ``forkserver`` worker, which does not join the group itself.
    """
    rank, world_size = process_group() or recorded or (0, 1)
    info = torch.utils.data.get_worker_info()
    worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return slice_of(rank, world_size, worker, num_workers)


def slice_of(rank: int, world_size: int, worker: int, num_workers: int) -> tuple[int, int]:
    """``(start, step)`` of the samples of ``worker`` of ``rank``."""
    return rank + worker * world_size, world_size * num_workers
