"""Sizes that shape a transfer; tests shrink them to exercise the block path."""

from __future__ import annotations

import dataclasses

from azstoragetorch._core._blob_client import DEFAULT_OPTIONS
from azstoragetorch._core._client_factory import options_or_default
from azstoragetorch.options import ClientOptions

__all__ = ["DEFAULT_SETTINGS", "TransferSettings", "settings_with"]

_MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class TransferSettings:
    """How files are moved.

    :param whole_file_limit: Files up to this size are read (or received) whole and
        sent in one request; larger ones are streamed in blocks or ranges.
    :param large_files_at_once: The most large files in flight at once: each holds
        a few blocks or parts.
    :param options: The client options of every request (timeouts, retries), and
        the block size, part size and concurrency of a large file's upload or
        download; unset sizes are those of ``BlobIO``, so one large file moves as
        fast as through it.
    """

    whole_file_limit: int = 8 * _MIB
    large_files_at_once: int = 2
    options: ClientOptions = DEFAULT_OPTIONS


DEFAULT_SETTINGS = TransferSettings()


def settings_with(options: object) -> TransferSettings:
    """The default settings with a caller's ``options`` (checked; ``None``: the defaults)."""
    return dataclasses.replace(DEFAULT_SETTINGS, options=options_or_default(options))
