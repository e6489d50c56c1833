"""Sizes that shape a transfer; tests shrink them to exercise the block path."""

from __future__ import annotations

import dataclasses

from azstoragetorch.io._reader import ReadOptions
from azstoragetorch.io._writer import WriteOptions

__all__ = ["DEFAULT_SETTINGS", "TransferSettings"]

_MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class TransferSettings:
    """How files are moved.

    :param whole_file_limit: Files up to this size are read (or received) whole and
        sent in one request; larger ones are streamed in blocks or ranges.
    :param large_files_at_once: The most large files in flight at once: each holds
        up to the writer's ``max_buffer`` or ``read_buffer`` bytes.
    :param read_buffer: Bytes fetched per step of a large download (in parallel
        ranged GETs by the reader).
    :param write: The block size, buffer and concurrency of a large upload: those
        of ``BlobIO``, so one large file goes up as fast as through it.
    """

    whole_file_limit: int = 8 * _MIB
    large_files_at_once: int = 2
    read_buffer: int = 128 * _MIB
    write: WriteOptions = dataclasses.field(default_factory=WriteOptions)
    read: ReadOptions = dataclasses.field(default_factory=ReadOptions)


DEFAULT_SETTINGS = TransferSettings()
