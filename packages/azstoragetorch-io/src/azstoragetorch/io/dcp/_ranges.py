"""Turning the byte spans a load needs into few, large ranged reads.

A load plan asks for many spans, often small and often next to each other. Each
request has a fixed cost (and Azurite checksums every ranged GET of 4 MiB or less,
reading the data twice), so spans that lie close together are fetched as one range,
paying for the gap between them. Two limits keep that from costing more than it saves:
a gap is bridged only if it is small (``max_gap``) and only while the bytes fetched
but not needed stay a small share of the range (``max_waste``), so a partial load
reads little more than what it asked for. Ranges stop growing at ``max_size`` to
bound the memory a fetch holds; one span larger than that is still fetched whole,
in parallel parts (``azstoragetorch.io._reader.split_parts``, as BlobIO reads do).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["Fetch", "MergeLimits", "merge_spans"]

T = TypeVar("T")
_MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class MergeLimits:
    """When two spans of one blob are fetched as one range.

    :param max_gap: The largest gap of unneeded bytes bridged between two spans. At a
        few hundred MiB/s, reading 512 KiB takes about as long as one more request.
    :param max_waste: The most unneeded bytes a range may hold, as a share of the
        needed ones.
    :param max_size: Spans are not merged into a range longer than this.
    """

    max_gap: int = 512 * 1024
    max_waste: float = 0.1
    max_size: int = 64 * _MIB


@dataclasses.dataclass
class Fetch(Generic[T]):
    """One ranged read: bytes ``start`` to ``end`` (exclusive) of ``blob``.

    ``members`` are the spans it serves, each as (start, end, item).
    """

    blob: str
    start: int
    end: int
    members: list[tuple[int, int, T]]
    needed: int

    @property
    def size(self) -> int:
        return self.end - self.start


def merge_spans(spans: Iterable[tuple[str, int, int, T]], limits: MergeLimits) -> list[Fetch[T]]:
    """Group ``(blob, start, end, item)`` spans into ranged reads, by blob and offset.

    Overlapping spans always share a read; empty spans need none and are dropped.
    """
    ordered = sorted(
        (span for span in spans if span[2] > span[1]), key=lambda span: (span[0], span[1])
    )
    fetches: list[Fetch[T]] = []
    current: Fetch[T] | None = None
    for blob, start, end, item in ordered:
        if current is not None and current.blob == blob and _joins(current, start, end, limits):
            current.needed += max(0, end - max(start, current.end))
            current.end = max(current.end, end)
            current.members.append((start, end, item))
            continue
        current = Fetch(blob, start, end, [(start, end, item)], end - start)
        fetches.append(current)
    return fetches


def _joins(current: Fetch[T], start: int, end: int, limits: MergeLimits) -> bool:
    if start < current.end:
        return True  # overlapping: reading the shared bytes twice helps nobody
    new_end = max(current.end, end)
    needed = current.needed + (end - start)
    waste = (new_end - current.start) - needed
    return (
        start - current.end <= limits.max_gap
        and new_end - current.start <= limits.max_size
        and waste <= limits.max_waste * needed
    )
