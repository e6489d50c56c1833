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
  fetching it again.

Where copies are written is decided once per directory, when a process first opens
the cache: a few small files are written there and timed. Where that is quick (a
tmpfs, an idle local disk), the thread that read a blob writes its copy, which
costs less than handing it over. Where it is slow (a disk slow to create files),
threads of the process's own write the copies, so that the disk delays the copy, not the sample;
the decision travels with the cache to DataLoader workers. A write that stalls
later hands this process's copies to those threads from then on.

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
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from azstoragetorch._core._blob_client import BlobProperties
from azstoragetorch._core._process_local import ProcessLocal, process_id
from azstoragetorch._core._url import BlobURL

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock; copies are still atomic
    fcntl = None  # type: ignore[assignment]

# Open-file-description locks: Linux only.
_OFD_SETLKW: int | None = getattr(fcntl, "F_OFD_SETLKW", None)
# (Unlocking is only ever asked of a lock that F_OFD_SETLKW took.)
_OFD_SETLK: int = getattr(fcntl, "F_OFD_SETLK", 0)

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
# When a cache is opened, _PROBES files of _PROBE_BYTES are written, renamed and
# removed in its directory; if the median takes less than _QUICK_SECONDS, copies
# are written by the threads that read them. Handing a copy to a writer thread
# cost about 0.1 ms of CPU, more than writing it to a tmpfs or an idle local disk
# (0.02-0.05 ms for 16 KiB here).
_PROBES = 8
_PROBE_BYTES = 16 * 1024
_QUICK_SECONDS = 0.0005
# A copy written in place that takes longer than this (wall-clock time, waits
# for the GIL included: well beyond them) hands the process's later copies to
# the writer threads.
_STALL_SECONDS = 0.05
# Per process and cache: the most descriptors of the lock file kept open for the
# next locks once released (opening the file for each lock cost two system calls
# per blob).
_SPARE_LOCK_FDS = 16
# After this many looks in a row under a blob's lock found no copy, a process
# stops looking before it takes a lock (a cold cache: the look, a failed open
# raising an exception, only costs), until a look under a lock finds one.
_MISSES_BEFORE_SKIPPING = 8
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

    def __init__(self, directory: str, max_bytes: int | None, quick: bool) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        # Whether writing a small file in the directory was quick when the cache was
        # opened: copies are then written by the threads that read them.
        self.quick = quick
        self._prefix = os.path.join(directory, "")
        self._state: ProcessLocal[_State] = ProcessLocal(_State)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickle, (self.directory, self.max_bytes, self.quick))

    def __repr__(self) -> str:
        return f"BlobCache({self.directory!r}, max_bytes={self.max_bytes})"

    # -- names ----------------------------------------------------------------------

    @staticmethod
    def key(url: BlobURL) -> str:
        """What names ``url``'s blob in a cache, whichever its version: 40 hex
        digits, from which its copies', index's and lock's names are derived.

        A hash of the blob's URL without its query (so never a SAS), and of the
        snapshot or version the query selects.
        """
        url.require_blob()
        text = url.url
        if url.snapshot is not None or url.version_id is not None:
            text = json.dumps([text, url.snapshot, url.version_id])  # starts with "["
        return hashlib.sha256(text.encode()).hexdigest()[:40]

    @staticmethod
    def entry_name(key: str, etag: str) -> str:
        """The file name of the copy of blob ``key`` at version ``etag``."""
        # The key has a fixed length, so "key/etag" cannot be read two ways.
        return hashlib.sha256(f"{key}/{etag}".encode()).hexdigest()[:40]

    @staticmethod
    def index_name(key: str) -> str:
        """The file name of the properties of blob ``key``'s last stored copy."""
        return key + ".json"

    # -- reading ----------------------------------------------------------------

    def read(self, name: str, size: int | None) -> bytes | mmap.mmap | None:
        """The content of copy ``name`` (touched as just used); ``None`` if there is
        none, or if it does not have ``size`` bytes (a copy cut short by a crash)."""
        try:
            fd = os.open(self._prefix + name, os.O_RDONLY | _CLOEXEC)
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

    def read_index(self, key: str) -> BlobProperties | None:
        """The properties of the copy of blob ``key`` stored last, if any."""
        try:
            with open(self._prefix + self.index_name(key), "rb") as file:
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

    def filling(self) -> bool:
        """Whether this process's last looks under a lock all found no copy (see
        :meth:`looked`): a cold cache, where a look before the lock only costs."""
        return self._state.get().misses >= _MISSES_BEFORE_SKIPPING

    def looked(self, found: bool) -> None:
        """Note what a look under a blob's lock found."""
        state = self._state.get()
        state.misses = 0 if found else state.misses + 1

    def lock(self, key: str) -> Lock:
        """Take blob ``key``'s lock, waiting for it: other processes and threads fetching
        the same blob wait here too, then find its copy. Release it with
        :meth:`Lock.release`.

        The lock is one byte of the file ``.lock``, chosen by the blob's key,
        held as an open-file-description lock (Linux): one lock file serves
        every blob, each lock held is taken through an open of the file of its own
        (so threads of one process exclude each other too; the opens are kept for
        reuse, see ``_SPARE_LOCK_FDS``), and the kernel drops the lock if its
        holder dies. Where such locks do not exist, nothing is locked: two
        processes may then both fetch a blob, and each writes a complete copy.
        """
        if _OFD_SETLKW is None or not self.storing():
            return Lock(-1)
        spare = self._state.get().spare_lock_fds
        try:
            fd = spare.pop()
        except IndexError:
            try:
                fd = os.open(self._prefix + ".lock", os.O_RDWR | os.O_CREAT | _CLOEXEC, 0o600)
            except OSError:
                return Lock(-1)  # storing will fail too, and say so once
            # Noted at once: a child forked from now on must close it (see _lock_fds).
            _lock_fds.add(fd)
        offset = int(key[:10], 16)  # 40 bits: a byte per blob
        try:
            fcntl.fcntl(fd, _OFD_SETLKW, _byte_lock(fcntl.F_WRLCK, offset))
        except OSError:
            _close_lock_fd(fd)
            return Lock(-1)  # a file system without such locks: go on unlocked
        except BaseException:
            _close_lock_fd(fd)
            raise
        return Lock(fd, offset, spare)

    def store_later(
        self,
        name: str,
        content: bytes | bytearray | memoryview,
        lock: Lock,
        index: tuple[str, BlobProperties] | None = None,
    ) -> None:
        """Store ``content`` as copy ``name``, then release ``lock``; with ``index``
        (a blob's key and properties), also record the copy's properties.

        Written here where writes are quick (:attr:`quick`); otherwise by this
        process's writer threads, so that the reader of the blob need not wait for
        the disk: a slow file system delays only the copy, and a process that wants
        the blob meanwhile waits for the lock.
        """
        if not self.fits(len(content)):
            lock.release()
            return

        def store() -> float:
            """Write the copy; returns the seconds its file took (room made aside:
            a directory scan is not the disk being slow)."""
            try:
                self._make_room(len(content))
                started = time.perf_counter()
                with Entry(self, name, len(content)) as entry:
                    entry.write(memoryview(content))
                    entry.commit()
                took = time.perf_counter() - started
                if index is not None and entry.stored:
                    self.store_index(*index)
                return took
            finally:
                lock.release()

        state = self._state.get()
        if not self.quick or state.stalled:
            if isinstance(content, memoryview):
                # Borrowed from its owner until this returns: the writer needs its own.
                content = bytes(content)
            _writer.get().submit(store, len(content))
            return
        if store() > _STALL_SECONDS:
            state.stalled = True  # the disk slowed down: leave it to the writers

    def new_entry(self, name: str, size: int) -> Entry:
        """A copy to write, ``size`` bytes; room is made for it first."""
        self._make_room(size)
        return Entry(self, name, size)

    def store_index(self, key: str, properties: BlobProperties) -> None:
        """Record ``properties`` as those of blob ``key``'s stored copy."""
        data = json.dumps(
            {
                "etag": properties.etag,
                "size": properties.size,
                "last_modified": properties.last_modified,
                "content_type": properties.content_type,
            }
        ).encode()
        with self.new_entry(self.index_name(key), len(data)) as entry:
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
    """A blob's lock held by this process (or nothing, for ``-1``): byte ``offset``
    of the lock file, through descriptor ``fd``, which goes back to ``spare`` (the
    process's descriptors kept for reuse) once the lock is released."""

    def __init__(self, fd: int, offset: int = 0, spare: list[int] | None = None) -> None:
        self._fd = fd
        self._offset = offset
        self._spare = spare

    def detach(self) -> Lock:
        """Hand the lock to a new owner; releasing this one then does nothing."""
        fd, self._fd = self._fd, -1
        return Lock(fd, self._offset, self._spare)

    def release(self) -> None:
        fd, self._fd = self._fd, -1
        if fd < 0:
            return
        try:
            fcntl.fcntl(fd, _OFD_SETLK, _byte_lock(fcntl.F_UNLCK, self._offset))
        except OSError:
            _close_lock_fd(fd)  # closing its last descriptor drops the lock too
            return
        if self._spare is not None and len(self._spare) < _SPARE_LOCK_FDS:
            self._spare.append(fd)
        else:
            _close_lock_fd(fd)


def _byte_lock(kind: int, offset: int) -> bytes:
    """A ``struct flock`` for one byte at ``offset`` (l_pid 0, as OFD locks need)."""
    return struct.pack("hhqqii", kind, 0, offset, 1, 0, 0)


# Every descriptor of a lock file this process has open, holding a lock or kept
# for reuse. A forked child closes its copies at once: an inherited descriptor
# shares its open file, and so its locks, with the parent. The child would hold
# the parent's locks for as long as it lives (and wait on them forever), and its
# own locks would not exclude the parent's.
_lock_fds: set[int] = set()


def _close_lock_fd(fd: int) -> None:
    _lock_fds.discard(fd)
    with contextlib.suppress(OSError):
        os.close(fd)


def _close_lock_fds_after_fork() -> None:
    for fd in list(_lock_fds):
        with contextlib.suppress(OSError):
            os.close(fd)
    _lock_fds.clear()


os.register_at_fork(after_in_child=_close_lock_fds_after_fork)


class _Writer:
    """This process's threads that write copies, and the copies waiting for them.

    When the disk is slower than storage, the copies waiting fill up and readers
    wait: at most ``_PENDING`` copies or ``_PENDING_BYTES`` bytes (or one copy, if
    larger) wait at a time. Copies still waiting when the process exits are
    written first (DataLoader workers included).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._jobs: collections.deque[tuple[Callable[[], object], int]] = collections.deque()
        self._bytes = 0
        self._unfinished = 0
        for number in range(_WRITERS):
            threading.Thread(
                target=self._run, name=f"azstoragetorch-cache-{number}", daemon=True
            ).start()
        multiprocessing.util.Finalize(None, self.flush, exitpriority=10)

    def submit(self, job: Callable[[], object], size: int) -> None:
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
        self._path = f"{cache._prefix}.tmp-{process_id()}-{threading.get_ident()}-{next(_serial)}"
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
            os.replace(self._path, self._cache._prefix + self._name)
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
        self.stalled = False  # a write in place was slow: copies go to the writers
        self.misses = 0  # looks under a blob's lock in a row that found no copy
        self.spare_lock_fds: list[int] = []  # descriptors of .lock for the next locks


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

    def unpickled(self, directory: str, max_bytes: int | None, quick: bool) -> BlobCache:
        with self._lock:
            cache = self._caches.get((directory, max_bytes))
            if cache is None:
                cache = BlobCache(directory, max_bytes, quick)
                self._caches[(directory, max_bytes)] = cache
            return cache


_registry: ProcessLocal[_Registry] = ProcessLocal(_Registry)


def _unpickle(directory: str, max_bytes: int | None, quick: bool) -> BlobCache:
    # The process that pickled the cache made, checked and timed the directory.
    return _registry.get().unpickled(directory, max_bytes, quick)


def _prepare(directory: str, max_bytes: int | None) -> BlobCache | None:
    """Create ``directory`` (mode 0700) if missing and check that files can be made
    in it, timing them (see ``_PROBES``); warn once and give ``None`` if not."""
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
        quick = _writes_quickly(directory)
        os.close(os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as error:
        warnings.warn(
            f"cache_dir {directory!r} cannot be used ({error.strerror or error}): blobs "
            "are read from storage without a cache.",
            RuntimeWarning,
            stacklevel=6,  # the caller of a dataset factory
        )
        return None
    return BlobCache(directory, max_bytes, quick)


def _writes_quickly(directory: str) -> bool:
    """Whether writing a small copy in ``directory`` takes less than
    ``_QUICK_SECONDS``: the median of ``_PROBES`` files written as copies are
    (created, written, renamed), then removed."""
    content = bytes(_PROBE_BYTES)
    base = os.path.join(directory, f".tmp-probe-{os.getpid()}-{threading.get_ident()}")
    seconds = []
    for number in range(_PROBES):
        path, done = f"{base}-{number}", f"{base}-{number}-done"
        try:
            started = time.perf_counter()
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o600)
            try:
                os.write(fd, content)
                os.replace(path, done)
            finally:
                os.close(fd)
            seconds.append(time.perf_counter() - started)
        finally:
            for leftover in (path, done):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)
    return sorted(seconds)[_PROBES // 2] < _QUICK_SECONDS


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
