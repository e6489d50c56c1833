"""A local copy of blobs' content on disk, valid for as long as a blob's ETag is.

The datasets' ``cache_dir=`` (and ``Blob.reader(cache_dir=...)``) keep each blob's
content in one file of the cache directory, named by a hash of the blob's account,
container, name (with any snapshot or version) and ETag. A changed blob has a new
ETag, so a new name: a copy is never served for a version it does not hold.

* ``<hash>``: a blob's content, exactly its bytes.
* ``<hash>.json``: for blobs whose ETag came from no listing (``from_blob_urls()``),
  the properties of the copy last stored (ETag, size, date, content type), so the
  next read can ask the service, with one conditional GET, whether it still holds.
* ``.tmp-*``: files being written; each is renamed into place once complete, so no
  process ever opens a half-written copy.
* ``.lock``: one empty file whose bytes are the blobs' locks; a process holds a
  blob's byte while it fetches the blob and stores its copy, and another process
  (or thread) that needs the same blob waits, then finds the copy instead of
  fetching it again. Small copies are written by the thread that read them while
  that is quick; once a write is slow, by threads of their own in that process, so
  that a slow disk delays the copy, not the sample.

Nothing derived from a credential, a SAS token included, enters a name or a file.
Each process keeps its own estimate of the bytes stored; once the estimate passes
``cache_max_bytes`` it scans the directory and removes the least recently used
copies (hits touch a copy's modification time). A failure to write (a full disk,
a directory that became unwritable) stops this process's storing with one warning;
reads carry on from the service.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import json
import mmap
import multiprocessing.util
import os
import struct
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from azstoragetorch._core._blob_client import BlobProperties
from azstoragetorch._core._process_local import ProcessLocal
from azstoragetorch._core._url import BlobURL

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock; copies are still atomic
    fcntl = None  # type: ignore[assignment]

# Open-file-description locks: Linux only.
_OFD_SETLKW: int | None = getattr(fcntl, "F_OFD_SETLKW", None)

__all__ = ["IN_MEMORY", "BlobCache", "Entry", "Lock", "check_cache", "flush_pending"]

# Copies up to this size are read into memory on a hit (the network reader's first
# window holds as much); larger ones are memory-mapped.
IN_MEMORY = 16 * 1024 * 1024
# Between scans, a process stores at most this fraction of the bound before it
# looks at the directory again (others' writes and evictions included).
_SCAN_EVERY = 16
# Eviction makes room down to this fraction of the bound, so it runs in batches.
_LOW_WATER = 0.9
# Per process: the threads writing copies (creating files is slow on some file
# systems; several at once keep up with storage), and the most copies and bytes
# that wait for them.
_WRITERS = 4
_PENDING = 256
_PENDING_BYTES = 32 * 1024 * 1024
# A small copy is written by the thread that read it for as long as writing one
# takes less than this; after the first slower one, the writer threads take over
# in that process. Handing a copy to a writer thread cost about 0.1 ms of CPU per
# copy, more than writing it to a fast file system (0.04 ms on a tmpfs).
_INLINE_SECONDS = 0.0005
# A temporary file untouched this long belongs to a process that died mid-write.
_STALE_SECONDS = 3600.0


def check_cache(cache_dir: object, cache_max_bytes: object) -> BlobCache | None:
    """The cache that ``cache_dir`` and ``cache_max_bytes`` ask for, checked.

    Creates the directory (mode 0700) if it is missing. A directory that cannot be
    created or written to gives one warning and ``None``: no caching.

    :raises TypeError: for arguments of the wrong type.
    :raises ValueError: for a ``cache_dir`` that exists and is not a directory, a
        ``cache_max_bytes`` below 1, or ``cache_max_bytes`` without ``cache_dir``.
    """
    if cache_max_bytes is not None:
        if isinstance(cache_max_bytes, bool) or not isinstance(cache_max_bytes, int):
            raise TypeError(
                "cache_max_bytes must be an int (a number of bytes) or None, not "
                f"{type(cache_max_bytes).__name__}."
            )
        if cache_max_bytes < 1:
            raise ValueError(
                f"cache_max_bytes must be at least 1 (bytes), not {cache_max_bytes}: "
                "pass None for a cache bounded only by the disk."
            )
    if cache_dir is None:
        if cache_max_bytes is not None:
            raise ValueError("cache_max_bytes bounds a cache: pass cache_dir too.")
        return None
    if isinstance(cache_dir, os.PathLike):
        cache_dir = os.fspath(cache_dir)
    if not isinstance(cache_dir, str):
        raise TypeError(
            f"cache_dir must be a str or os.PathLike path, not {type(cache_dir).__name__}."
        )
    if not cache_dir:
        raise ValueError("cache_dir must not be empty: pass a directory path.")
    directory = os.path.abspath(cache_dir)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(
            f"cache_dir {directory!r} exists and is not a directory: pass the path of a "
            "directory (it is created if missing)."
        )
    return _registry.get().cache(directory, cache_max_bytes)


class BlobCache:
    """One cache directory with its bound, shared by every blob of this process.

    Made through :func:`check_cache` (or unpickled), so that all blobs and datasets
    of a process that name the same directory and bound share one usage estimate.
    """

    def __init__(self, directory: str, max_bytes: int | None) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._state: ProcessLocal[_State] = ProcessLocal(_State)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickle, (self.directory, self.max_bytes))

    def __repr__(self) -> str:
        return f"BlobCache({self.directory!r}, max_bytes={self.max_bytes})"

    # -- names ----------------------------------------------------------------------

    def entry_name(self, url: BlobURL, etag: str) -> str:
        """The file name of the copy of ``url``'s blob at version ``etag``."""
        return _hash([*_identity(url), etag])

    def index_name(self, url: BlobURL) -> str:
        """The file name of the properties of ``url``'s last stored copy."""
        return _hash(_identity(url)) + ".json"

    # -- reading ----------------------------------------------------------------

    def read(self, name: str, size: int | None) -> bytes | mmap.mmap | None:
        """The content of copy ``name`` (touched as just used); ``None`` if there is
        none, or if it does not have ``size`` bytes (a copy cut short by a crash)."""
        try:
            fd = os.open(os.path.join(self.directory, name), os.O_RDONLY | _CLOEXEC)
        except OSError:
            return None
        try:
            length = os.fstat(fd).st_size
            if size is not None and length != size:
                return None
            with contextlib.suppress(OSError):
                os.utime(fd)  # least recently used is what eviction removes
            if length > IN_MEMORY:
                return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            return _read_all(fd, length)
        except OSError:
            return None
        finally:
            os.close(fd)

    def read_index(self, url: BlobURL) -> BlobProperties | None:
        """The properties of the copy of ``url`` stored last, if any."""
        try:
            with open(os.path.join(self.directory, self.index_name(url)), "rb") as file:
                fields = json.loads(file.read())
            return BlobProperties(
                size=int(fields["size"]),
                etag=str(fields["etag"]),
                last_modified=fields.get("last_modified"),
                content_type=fields.get("content_type"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # -- writing ----------------------------------------------------------------

    def storing(self) -> bool:
        """Whether this process still stores copies (it stops at the first failure)."""
        return not self._state.get().failed

    def fits(self, size: int) -> bool:
        """Whether a copy of ``size`` bytes may be stored at all."""
        return self.storing() and (self.max_bytes is None or size <= self.max_bytes)

    def lock(self, url: BlobURL) -> Lock:
        """Take ``url``'s lock, waiting for it: other processes and threads fetching
        the same blob wait here too, then find its copy. Release it with
        :meth:`Lock.release`.

        The lock is one byte of the file ``.lock``, chosen by a hash of the blob's
        name, held as an open-file-description lock (Linux): one lock file serves
        every blob, each holder opens it anew (so threads of one process exclude
        each other too), and the kernel drops the lock if its holder dies. Where
        such locks do not exist, nothing is locked: two processes may then both
        fetch a blob, and each writes a complete copy.
        """
        if _OFD_SETLKW is None or not self.storing():
            return Lock(-1)
        try:
            fd = os.open(
                os.path.join(self.directory, ".lock"), os.O_RDWR | os.O_CREAT | _CLOEXEC, 0o600
            )
        except OSError:
            return Lock(-1)  # storing will fail too, and say so once
        # Noted before waiting: a child forked meanwhile must not keep it locked.
        _held.add(fd)
        offset = int(_hash(_identity(url))[:10], 16)  # 40 bits: a byte per blob
        try:
            fcntl.fcntl(fd, _OFD_SETLKW, struct.pack("hhqqii", fcntl.F_WRLCK, 0, offset, 1, 0, 0))
        except OSError:
            Lock(fd).release()
            return Lock(-1)  # a file system without such locks: go on unlocked
        except BaseException:
            Lock(fd).release()
            raise
        return Lock(fd)

    def store_later(
        self,
        name: str,
        content: bytes | bytearray,
        lock: Lock,
        index: tuple[BlobURL, BlobProperties] | None = None,
    ) -> None:
        """Store ``content`` as copy ``name``, then release ``lock``; with ``index``,
        also record the copy's properties.

        Written here while writes are quick (see ``_INLINE_SECONDS``); otherwise by
        this process's writer threads, so that the reader of the blob need not wait
        for the disk: a slow file system delays only the copy, and a process that
        wants the blob meanwhile waits for the lock.
        """
        if not self.fits(len(content)):
            lock.release()
            return

        def store() -> None:
            try:
                with self.new_entry(name, len(content)) as entry:
                    entry.write(memoryview(content))
                    entry.commit()
                if index is not None and entry.stored:
                    self.store_index(*index)
            finally:
                lock.release()

        state = self._state.get()
        if not state.inline:
            _writer.get().submit(store, len(content))
            return
        started = time.perf_counter()
        store()
        if time.perf_counter() - started > _INLINE_SECONDS:
            state.inline = False  # a slow file system: leave it to the writers

    def new_entry(self, name: str, size: int) -> Entry:
        """A copy to write, ``size`` bytes; room is made for it first."""
        self._make_room(size)
        return Entry(self, name, size)

    def store_index(self, url: BlobURL, properties: BlobProperties) -> None:
        """Record ``properties`` as those of ``url``'s stored copy."""
        data = json.dumps(
            {
                "etag": properties.etag,
                "size": properties.size,
                "last_modified": properties.last_modified,
                "content_type": properties.content_type,
            }
        ).encode()
        with self.new_entry(self.index_name(url), len(data)) as entry:
            entry.write(memoryview(data))
            entry.commit()

    def stop_storing(self, error: OSError) -> None:
        """Stop storing in this process, with one warning."""
        state = self._state.get()
        with state.lock:
            if state.failed:
                return
            state.failed = True
        warnings.warn(
            f"The blob cache in {self.directory!r} stopped storing copies: "
            f"{error.strerror or error}. Blobs are read from storage from now on in "
            "this process; copies already stored are still used.",
            RuntimeWarning,
            stacklevel=2,
        )

    def settled(self, size: int, *, stored: bool) -> None:
        """A copy of ``size`` bytes that room was made for is in place (``stored``),
        or was given up."""
        state = self._state.get()
        with state.lock:
            state.pending -= size
            if stored and state.used is not None:
                state.used += size
                state.since_scan += size

    # -- eviction ---------------------------------------------------------------

    def _make_room(self, incoming: int) -> None:
        if self.max_bytes is None:
            return
        state = self._state.get()
        with state.lock:
            stale = state.used is None or state.since_scan * _SCAN_EVERY > self.max_bytes
            # Copies other threads of this process are writing are not in the
            # directory yet, but will be: they count against the bound too.
            room = self.max_bytes - incoming - state.pending
            if stale or state.used > room:  # type: ignore[operator]
                state.used = self._scan_and_evict(room)
                state.since_scan = 0
            state.pending += incoming

    def _scan_and_evict(self, limit: int) -> int:
        """Remove the least recently used copies until they total at most ``limit``
        bytes (down to 90% of it); returns the total left."""
        entries: list[tuple[float, int, str]] = []
        now = time.time()
        try:
            with os.scandir(self.directory) as scan:
                for item in scan:
                    try:
                        stat = item.stat(follow_symlinks=False)
                    except OSError:
                        continue  # removed meanwhile by another process
                    if item.name.startswith(".tmp-"):
                        if now - stat.st_mtime > _STALE_SECONDS:
                            with contextlib.suppress(OSError):
                                os.unlink(item.path)
                    elif not item.name.startswith(".") and item.is_file(follow_symlinks=False):
                        entries.append((stat.st_mtime, stat.st_size, item.path))
        except OSError:
            return 0
        total = sum(size for _, size, _ in entries)
        if total <= limit:
            return total
        target = int(limit * _LOW_WATER)
        for _, size, path in sorted(entries):
            if total <= target:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            total -= size
        return total


class Lock:
    """A blob's lock held by this process (or nothing, for ``-1``)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def detach(self) -> Lock:
        """Hand the lock to a new owner; releasing this one then does nothing."""
        fd, self._fd = self._fd, -1
        return Lock(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            _held.discard(fd)
            os.close(fd)  # the last descriptor of the open file: flock ends


# The descriptors of the locks this process holds. A forked child closes its
# copies at once: an inherited descriptor would hold the parent's lock for as long
# as the child lives, and the child would wait on it forever.
_held: set[int] = set()


def _close_held_after_fork() -> None:
    for fd in list(_held):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_held_after_fork)


class _Writer:
    """This process's threads that write copies, and the copies waiting for them.

    When the disk is slower than storage, the copies waiting fill up and readers
    wait: at most ``_PENDING`` copies or ``_PENDING_BYTES`` bytes (or one copy, if
    larger) wait at a time. Copies still waiting when the process exits are
    written first (DataLoader workers included).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._jobs: collections.deque[tuple[Callable[[], None], int]] = collections.deque()
        self._bytes = 0
        self._unfinished = 0
        for number in range(_WRITERS):
            threading.Thread(
                target=self._run, name=f"azstoragetorch-cache-{number}", daemon=True
            ).start()
        multiprocessing.util.Finalize(None, self.flush, exitpriority=10)

    def submit(self, job: Callable[[], None], size: int) -> None:
        with self._changed:
            while self._unfinished and (
                self._unfinished >= _PENDING or self._bytes + size > _PENDING_BYTES
            ):
                self._changed.wait()
            self._jobs.append((job, size))
            self._bytes += size
            self._unfinished += 1
            self._changed.notify_all()

    def flush(self) -> None:
        """Wait until every copy submitted so far is written (or given up)."""
        with self._changed:
            while self._unfinished:
                self._changed.wait()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._jobs:
                    self._changed.wait()
                job, size = self._jobs.popleft()
            try:
                job()
            except BaseException:
                pass
            finally:
                with self._changed:
                    self._bytes -= size
                    self._unfinished -= 1
                    self._changed.notify_all()


_writer: ProcessLocal[_Writer] = ProcessLocal(_Writer)


def flush_pending() -> None:
    """Wait for this process's copies still being written (if it has a writer)."""
    writer = _writer.existing()
    if writer is not None:
        writer.flush()


class Entry:
    """A copy being written: a temporary file, renamed into place by :meth:`commit`.

    A write that fails stops the cache's storing (with its one warning) and makes
    the rest of this entry do nothing, so a reader of the blob carries on.
    """

    def __init__(self, cache: BlobCache, name: str, size: int) -> None:
        self._cache = cache
        self._name = name
        self._size = size
        self._fd = -1
        self._path = ""
        self.stored = False
        # Whether the room new_entry() made is still to be settled.
        self._unsettled = cache.max_bytes is not None
        # A name no other writer uses (mkstemp's random names cost more to make).
        self._path = os.path.join(
            cache.directory, f".tmp-{os.getpid()}-{threading.get_ident()}-{next(_serial)}"
        )
        try:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o600)
        except OSError as error:
            cache.stop_storing(error)

    def write(self, data: memoryview) -> None:
        if self._fd < 0:
            return
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as error:
            self._abandon()
            self._cache.stop_storing(error)

    def commit(self) -> mmap.mmap | None:
        """Put the copy in place; returns it mapped if it is larger than
        :data:`IN_MEMORY` (so the caller need not hold it in memory), else None."""
        if self._fd < 0:
            return None
        mapped = None
        try:
            if self._size > IN_MEMORY:
                mapped = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)
            os.replace(self._path, os.path.join(self._cache.directory, self._name))
        except OSError as error:
            if mapped is not None:
                mapped.close()
            self._abandon()
            self._cache.stop_storing(error)
            return None
        os.close(self._fd)
        self._fd = -1
        self.stored = True
        self._settle()
        return mapped

    def _settle(self) -> None:
        if self._unsettled:
            self._unsettled = False
            self._cache.settled(self._size, stored=self.stored)

    def _abandon(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            with contextlib.suppress(OSError):
                os.unlink(self._path)

    def __enter__(self) -> Entry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._abandon()
        self._settle()


class _State:
    """What one process knows of a cache: its estimate of the bytes stored."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.used: int | None = None  # None: not scanned yet in this process
        self.pending = 0  # bytes of copies being written, room made for them
        self.since_scan = 0
        self.failed = False
        self.inline = True  # small copies written by their reader (store_later)


class _Registry:
    """This process's caches, one per (directory, bound), and the unusable directories."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._caches: dict[tuple[str, int | None], BlobCache | None] = {}

    def cache(self, directory: str, max_bytes: int | None) -> BlobCache | None:
        key = (directory, max_bytes)
        with self._lock:
            if key not in self._caches:
                self._caches[key] = _prepare(directory, max_bytes)
            return self._caches[key]

    def unpickled(self, directory: str, max_bytes: int | None) -> BlobCache:
        with self._lock:
            cache = self._caches.get((directory, max_bytes))
            if cache is None:
                cache = self._caches[(directory, max_bytes)] = BlobCache(directory, max_bytes)
            return cache


_registry: ProcessLocal[_Registry] = ProcessLocal(_Registry)


def _unpickle(directory: str, max_bytes: int | None) -> BlobCache:
    # The process that pickled the cache made and checked the directory.
    return _registry.get().unpickled(directory, max_bytes)


def _prepare(directory: str, max_bytes: int | None) -> BlobCache | None:
    """Create ``directory`` (mode 0700) if missing and check that files can be made
    in it; warn once and give ``None`` if not."""
    try:
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(os.path.dirname(directory), exist_ok=True)
            os.mkdir(directory, 0o700)
        else:
            os.chmod(directory, 0o700)  # whatever the umask
        fd, probe = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        os.close(fd)
        os.unlink(probe)
        os.close(os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as error:
        warnings.warn(
            f"cache_dir {directory!r} cannot be used ({error.strerror or error}): blobs "
            "are read from storage without a cache.",
            RuntimeWarning,
            stacklevel=6,  # the caller of a dataset factory
        )
        return None
    return BlobCache(directory, max_bytes)


def _identity(url: BlobURL) -> list[str]:
    # The URL without its query, plus the snapshot or version it reads: never a SAS.
    container, blob = url.require_container(), url.require_blob()
    return [url.account_url, container, blob, url.snapshot or "", url.version_id or ""]


def _hash(parts: list[str]) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:40]


def _read_all(fd: int, length: int) -> bytes:
    chunks = [b""]
    while length > 0:
        chunk = os.read(fd, length)
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
    return chunks[1] if len(chunks) == 2 else b"".join(chunks)


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# Numbers the temporary files of a thread (with its process and thread IDs).
_serial = itertools.count()
