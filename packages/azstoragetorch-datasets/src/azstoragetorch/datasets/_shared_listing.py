"""One container listing per DataLoader iteration, shared by the workers of a rank.

Every worker of an iterable dataset needs the whole epoch order to keep its
round-robin share, so without sharing W workers list the container W times. Here
the first worker of an iteration to start lists it, once, and the others read what
it lists:

* The lister takes an exclusive ``flock`` on a new spool file and publishes it under
  a name all the workers of this iteration compute alike (:func:`slot`), with
  ``os.link`` so that exactly one worker wins. A thread of the lister writes each
  page to the spool as the service returns it, then an end record, or the error
  that stopped the listing. It lists ahead of its own worker's share: a worker
  waiting for a page must never wait on the DataLoader's consumption of another.
* Every worker, the lister too, reads the spool from the start, waiting for
  records it has not got yet, so the first sample needs only the first page (the
  lazy start is kept). A reader that finds no more data and the lock free knows
  the lister is gone: a spool with no end record then raises in every worker
  instead of leaving them waiting; a listing error is raised in every worker.
* Each worker that opens the spool adds a hard link to it, its mark; the one that
  finds the marks of all ``num_workers`` removes every name, so the file is gone as
  soon as all workers hold it open (its space is freed when they close it). The
  spools of a rank whose main process is dead, and spools of this rank whose lister
  has finished that belong to other DataLoader iterators (one some worker never
  started), are removed by the next lister.

The spool lives in a directory private to the user (mode 0700, owned by them,
under :func:`tempfile.gettempdir`) and holds what the listing holds: names, sizes,
ETags, times, content types and MD5s, never a credential. Where that directory
cannot be used, or without ``fcntl`` (Windows), each worker lists for itself.

A spool is named ``<parent pid>-<first worker>-<base seed>-<listing>-<pass>``:
the rank's process that started the workers; the multiprocessing identity of
worker 0 (a per-process counter, so new for each set of worker processes); the
DataLoader's base seed for this iterator; a random name the dataset's source got
when it was made (two datasets chained in one DataLoader list apart); and how many
times this worker process has started listing it (persistent workers keep their
identity and seed across epochs, and each starts every epoch once).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import multiprocessing
import os
import pickle
import stat
import struct
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch.utils.data

from azstoragetorch._core._listing import ListedBlob, ListedFields
from azstoragetorch._core._redact import redact

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: every worker lists for itself
    fcntl = None  # type: ignore[assignment]

__all__ = ["Slot", "shared_entries", "slot"]

# kind (1 byte) and payload length (4 bytes, little-endian), then the payload.
_HEADER = struct.Struct("<cI")
_PAGE, _END, _ERROR = b"P", b"E", b"X"
# How long a reader that has caught up with the lister sleeps before looking again.
_FIRST_WAIT_S = 0.001
_LONGEST_WAIT_S = 0.02
_warned = False
_ALONE = (
    "The DataLoader workers of an IterableBlobDataset could not share one listing "
    "({error}); each worker lists the container itself."
)


@dataclasses.dataclass(frozen=True)
class Slot:
    """Which listing this DataLoader worker shares, and with how many workers."""

    iteration: str
    """``<parent pid>-<first worker>-<base seed>``: one DataLoader iterator's workers."""
    listing: str
    """``<listing>-<pass>``: which of the listings made in that iteration."""
    worker: int
    num_workers: int

    @property
    def name(self) -> str:
        return f"{self.iteration}-{self.listing}"


def slot(listing: str, passes: int) -> Slot | None:
    """This worker's place in its iteration's shared listing; ``None`` to list alone.

    :param listing: A name of the listing's source, the same in every worker (made
        at random with the dataset), so that two datasets read in one worker never
        share a spool.
    :param passes: How many times this process has started listing it, this time
        included.
    """
    if fcntl is None:
        return None
    info = torch.utils.data.get_worker_info()
    if info is None or info.num_workers < 2:
        return None
    # Workers are made one after another, so their identities are consecutive.
    identity = multiprocessing.current_process()._identity
    first = identity[-1] - info.id if identity else 0
    base_seed = info.seed - info.id
    iteration = f"{os.getppid()}-{first}-{base_seed}"
    return Slot(iteration, f"{listing}-{passes}", info.id, info.num_workers)


def shared_entries(
    list_pages: Callable[[], Iterable[list[ListedBlob]]], where: Slot
) -> Iterator[ListedFields]:
    """The entries of the listing shared by ``where``'s workers, in listing order.

    ``list_pages`` is called (in a thread) by the one worker that lists.
    """
    directory = _private_directory()
    if directory is None:
        return _entries(list_pages())
    spool = directory / f"{where.name}.spool"
    try:
        fd = _join(spool, list_pages, directory, where.iteration)
    except OSError as error:  # such as a full disk: costs a listing, not the epoch
        _warn_once(_ALONE.format(error=redact(str(error))))
        return _entries(list_pages())
    try:
        _count_in(spool, where)
    except BaseException:
        os.close(fd)
        raise
    return _read(fd)


def _entries(pages: Iterable[list[ListedBlob]]) -> Iterator[ListedFields]:
    return itertools.chain.from_iterable(pages)


# -- the directory ------------------------------------------------------------------


def _private_directory() -> Path | None:
    """The user's spool directory, made if needed; ``None`` (and one warning) if unusable."""
    directory = Path(tempfile.gettempdir(), f"azstoragetorch-listings-{os.getuid()}")
    try:
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
        found = os.lstat(directory)
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
            raise PermissionError(f"{directory} is not a directory private to this user")
    except OSError as error:
        _warn_once(
            _ALONE.format(
                error=f"{redact(str(error))}; set TMPDIR to a directory "
                "only this user may write to share it"
            )
        )
        return None
    return directory


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(message, RuntimeWarning, stacklevel=2)


def _sweep(directory: Path, iteration: str) -> None:
    """Remove spools left by dead ranks, and this rank's finished spools of other
    DataLoader iterators.

    The spools of this iterator stay: a worker that starts late still needs them.
    """
    mine = str(os.getppid())
    for entry in os.scandir(directory):
        name = entry.name
        owner = name.split("-", 1)[0]
        if name.startswith(f"{iteration}-") or not owner.isdigit():
            continue
        if owner == mine:
            if name.endswith(".draft"):
                continue  # another iteration's lister, about to lock it
            if _lister_at_work(entry.path):
                continue
        elif _alive(int(owner)):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lister_at_work(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return not _lock_free(fd)
    finally:
        os.close(fd)


def _lock_free(fd: int) -> bool:
    """Whether no lister holds the spool open on ``fd``'s file any more."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


# -- joining: list, or read what another worker lists -------------------------------


def _join(
    spool: Path,
    list_pages: Callable[[], Iterable[list[ListedBlob]]],
    directory: Path,
    iteration: str,
) -> int:
    """A descriptor to read ``spool`` from, after starting the listing if no one has."""
    with contextlib.suppress(FileNotFoundError):
        return os.open(spool, os.O_RDONLY)
    draft = spool.with_name(f"{spool.name}.{os.getpid()}.draft")
    out = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    reader: int | None = None
    try:
        # Locked before anyone can see it: a reader never takes a new spool for an
        # abandoned one. Opened for reading before it is published: its names may
        # all be gone as soon as the other workers have joined.
        fcntl.flock(out, fcntl.LOCK_EX)
        reader = os.open(draft, os.O_RDONLY)
        os.link(draft, spool)
    except FileExistsError:  # another worker won: read its spool
        if reader is not None:
            os.close(reader)
        reader = None
    except BaseException:
        if reader is not None:
            os.close(reader)
        os.close(out)
        os.unlink(draft)
        raise
    os.unlink(draft)
    if reader is None:
        os.close(out)
        return os.open(spool, os.O_RDONLY)
    with contextlib.suppress(OSError):
        _sweep(directory, iteration)
    threading.Thread(
        target=_publish, args=(out, list_pages), name="azstoragetorch-listing", daemon=True
    ).start()
    return reader


def _count_in(spool: Path, where: Slot) -> None:
    """Mark this worker as holding the spool; the one that finds every worker's mark
    removes every name."""
    marks = [f"{spool}.{worker}" for worker in range(where.num_workers)]
    # Gone already: another iteration's lister swept it once it was complete; this
    # worker holds it open all the same.
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.link(spool, marks[where.worker])
    if all(os.path.exists(mark) for mark in marks):
        for path in [str(spool), *marks]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


# -- the spool ----------------------------------------------------------------------


def _publish(out: int, list_pages: Callable[[], Iterable[list[ListedBlob]]]) -> None:
    """List to the spool open on ``out``, then close it (which releases the lock)."""
    offset = 0
    try:
        try:
            for page in list_pages():
                body = pickle.dumps([tuple(entry) for entry in page], pickle.HIGHEST_PROTOCOL)
                offset = _append(out, offset, _PAGE, body)
            _append(out, offset, _END, b"")
        except Exception as error:  # every worker raises it, from the spool
            with contextlib.suppress(OSError):
                # A record cut short (a full disk) would hide the error after it.
                os.ftruncate(out, offset)
                _append(out, offset, _ERROR, _pickled(error))
    finally:
        os.close(out)


def _append(out: int, offset: int, kind: bytes, body: bytes) -> int:
    record = memoryview(_HEADER.pack(kind, len(body)) + body)
    written = 0
    while written < len(record):
        written += os.pwrite(out, record[written:], offset + written)
    return offset + written


def _pickled(error: Exception) -> bytes:
    try:
        data = pickle.dumps(error, pickle.HIGHEST_PROTOCOL)
        pickle.loads(data)
    except Exception:
        # An error that cannot cross processes is told by its type and message;
        # messages of the library's errors carry no secret, redact() covers others.
        described = RuntimeError(
            f"Listing the container failed: {type(error).__name__}: {redact(str(error))}"
        )
        data = pickle.dumps(described, pickle.HIGHEST_PROTOCOL)
    return data


def _read(fd: int) -> Iterator[ListedFields]:
    """The entries of the spool on ``fd``, waiting for the lister where needed."""
    try:
        offset = 0
        wait = _FIRST_WAIT_S
        lister_gone = False
        while True:
            record = _record_at(fd, offset)
            if record is not None:
                kind, body, offset = record
                wait = _FIRST_WAIT_S
                if kind == _PAGE:
                    yield from pickle.loads(body)
                elif kind == _END:
                    return
                else:
                    error: Any = pickle.loads(body)
                    raise error
                continue
            if lister_gone:  # looked again after the lock came free: nothing more
                raise RuntimeError(
                    "The DataLoader worker that listed the container for the other "
                    "workers of this process stopped before the listing was complete "
                    "(it exited or was killed); see that worker's error."
                )
            if _lock_free(fd):
                lister_gone = True  # all it wrote is visible now: look once more
                continue
            time.sleep(wait)
            wait = min(2 * wait, _LONGEST_WAIT_S)
    finally:
        os.close(fd)


def _record_at(fd: int, offset: int) -> tuple[bytes, bytes, int] | None:
    """The whole record at ``offset`` and the offset after it; ``None`` if not all there."""
    header = os.pread(fd, _HEADER.size, offset)
    if len(header) < _HEADER.size:
        return None
    kind, size = _HEADER.unpack(header)
    body = os.pread(fd, size, offset + _HEADER.size) if size else b""
    if len(body) < size:
        return None
    return kind, body, offset + _HEADER.size + size
