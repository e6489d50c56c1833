"""What a transfer reports: the summary it returns and the progress it calls back."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Literal

__all__ = [
    "OVERWRITE_CHOICES",
    "FailedFile",
    "Overwrite",
    "ProgressCallback",
    "ProgressCounter",
    "Tally",
    "TransferSummary",
    "check_concurrency",
    "check_overwrite",
]

Overwrite = Literal["always", "never", "if-changed"]
ProgressCallback = Callable[[int, int, int, int], None]
OVERWRITE_CHOICES: tuple[Overwrite, ...] = ("always", "never", "if-changed")


@dataclasses.dataclass(frozen=True)
class FailedFile:
    """One file that was not transferred.

    :ivar source: The local path or the blob URL (never with a SAS) it came from.
    :ivar destination: Where it was to go: a blob URL without query, or a local path.
    :ivar reason: What went wrong, for a person to read.
    """

    source: str
    destination: str
    reason: str


@dataclasses.dataclass(frozen=True)
class TransferSummary:
    """The outcome of :func:`upload` or :func:`download`.

    Files are counted once each: transferred, skipped (already there, by the
    ``overwrite`` rule) or failed. With ``dry_run``, nothing moved and
    ``transferred`` lists what would have.

    :ivar transferred: Destinations written (blob names or local paths), sorted.
    :ivar skipped: Destinations left as they were, sorted.
    :ivar failed: The files that failed, each with its reason.
    :ivar bytes_transferred: Bytes of the transferred files.
    :ivar bytes_total: Bytes of every file considered.
    :ivar dry_run: Whether this was a dry run.
    """

    transferred: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[FailedFile, ...]
    bytes_transferred: int
    bytes_total: int
    dry_run: bool = False

    @property
    def files_total(self) -> int:
        """Every file considered."""
        return len(self.transferred) + len(self.skipped) + len(self.failed)

    @property
    def ok(self) -> bool:
        """``True`` if no file failed."""
        return not self.failed


def check_overwrite(overwrite: object) -> Overwrite:
    if overwrite not in OVERWRITE_CHOICES:
        raise ValueError(f"overwrite must be 'always', 'never' or 'if-changed', not {overwrite!r}.")
    return overwrite


def check_concurrency(concurrency: object) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, not {concurrency!r}.")
    return concurrency


class ProgressCounter:
    """Counts bytes and files done and reports them, one call at a time."""

    def __init__(self, callback: ProgressCallback | None, bytes_total: int, files_total: int):
        self._callback = callback
        self._lock = threading.Lock()
        self.bytes_total = bytes_total
        self.files_total = files_total
        self.bytes_done = 0
        self.files_done = 0

    def start(self) -> None:
        self._report(0, 0)

    def add_bytes(self, count: int) -> None:
        self._report(count, 0)

    def file_done(self, remaining_bytes: int = 0) -> None:
        """One more file finished; ``remaining_bytes`` of it were not reported yet."""
        self._report(remaining_bytes, 1)

    def _report(self, count: int, files: int) -> None:
        with self._lock:
            self.bytes_done += count
            self.files_done += files
            if self._callback is not None:
                self._callback(self.bytes_done, self.bytes_total, self.files_done, self.files_total)


class Tally:
    """The per-file outcomes of a run, gathered from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.transferred: list[str] = []
        self.skipped: list[str] = []
        self.failed: list[FailedFile] = []
        self.bytes_transferred = 0

    def done(self, destination: str, size: int) -> None:
        with self._lock:
            self.transferred.append(destination)
            self.bytes_transferred += size

    def skip(self, destination: str) -> None:
        with self._lock:
            self.skipped.append(destination)

    def fail(self, source: str, destination: str, reason: str) -> None:
        with self._lock:
            self.failed.append(FailedFile(source, destination, reason))

    def summary(self, bytes_total: int, dry_run: bool) -> TransferSummary:
        return TransferSummary(
            transferred=tuple(sorted(self.transferred)),
            skipped=tuple(sorted(self.skipped)),
            failed=tuple(sorted(self.failed, key=lambda failure: failure.destination)),
            bytes_transferred=self.bytes_transferred,
            bytes_total=bytes_total,
            dry_run=dry_run,
        )
