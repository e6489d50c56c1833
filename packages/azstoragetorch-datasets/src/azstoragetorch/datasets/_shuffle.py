"""The order of an iterable dataset's epoch: listing order, or shuffled by (seed, epoch).

Shuffling happens before the samples are dealt to ranks and workers, and every
process computes the same order from the same ``(seed, epoch)``, so the shares
of all ranks and workers still partition the epoch.

The shuffle is a buffer shuffle: a buffer of ``buffer_size`` listing entries is
filled, then each new entry replaces a randomly chosen one, which is yielded.
Memory is bounded by the buffer, not the listing; with ``buffer_size=None`` the
buffer holds the whole listing, which makes it a uniform permutation.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = [
    "DEFAULT_BUFFER_SIZE",
    "check_epoch",
    "check_seed",
    "check_shuffle",
    "reject_map_shuffle",
    "shuffled",
]

DEFAULT_BUFFER_SIZE = 10_000
_Item = TypeVar("_Item")


def _non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}.")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value}.")
    return value


def check_seed(seed: object) -> int:
    """The seed to shuffle with: ``None`` means 0, the same on every rank."""
    return 0 if seed is None else _non_negative_int("seed", seed)


def check_epoch(epoch: object) -> int:
    return _non_negative_int("epoch", epoch)


def check_shuffle(shuffle: object, buffer_size: object) -> None:
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, not {type(shuffle).__name__}.")
    if buffer_size is None:
        return
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int):
        raise TypeError(
            f"shuffle_buffer_size must be an int or None, not {type(buffer_size).__name__}."
        )
    if buffer_size < 1:
        raise ValueError(
            f"shuffle_buffer_size must be 1 or more (or None for a shuffle of the whole "
            f"listing), not {buffer_size}."
        )


def reject_map_shuffle(method: str, unsupported: dict[str, Any]) -> None:
    """Refuse keyword arguments a ``BlobDataset`` factory does not take.

    A map-style dataset is shuffled by its sampler, not by itself: ``shuffle`` and
    ``seed`` get a pointer to the samplers; any other name is refused as Python
    refuses it. (Type checkers already reject both: the factories type them
    ``NoReturn``.)
    """
    if "shuffle" in unsupported or "seed" in unsupported:
        raise TypeError(
            "BlobDataset does not shuffle itself: pass shuffle=True to the DataLoader, "
            "or a sampler such as DistributedSampler(dataset, shuffle=True, seed=...) "
            "and call its set_epoch(epoch) every epoch."
        )
    if unsupported:
        name = sorted(unsupported)[0]
        raise TypeError(f"{method}() got an unexpected keyword argument {name!r}")


def _rng(seed: int, epoch: int) -> random.Random:
    # A str seed is hashed with SHA-512: the same in every process, whatever
    # PYTHONHASHSEED, so every rank and worker draws the same numbers.
    return random.Random(f"azstoragetorch-shuffle:{seed}:{epoch}")


def shuffled(
    items: Iterable[_Item], seed: int, epoch: int, buffer_size: int | None
) -> Iterator[_Item]:
    """``items`` in an order that depends only on ``(seed, epoch)`` and the items."""
    rng = _rng(seed, epoch)
    buffer: list[_Item] = []
    for item in items:
        if buffer_size is None or len(buffer) < buffer_size:
            buffer.append(item)
            continue
        index = rng.randrange(buffer_size)
        yield buffer[index]
        buffer[index] = item
    rng.shuffle(buffer)
    yield from buffer
