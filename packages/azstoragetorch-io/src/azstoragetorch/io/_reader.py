"""Reading one version of a blob with few requests and few copies.

Small reads are served from a read-ahead window: one ranged GET of several MiB
answers many ``read`` calls, so ``torch.load`` of a checkpoint made of many small
tensors costs a handful of requests. Reads at least as large as the window skip it:
their bytes are fetched with parallel ranged GETs written straight into the
caller's buffer. Every GET is conditional on the ETag seen by the first one, so a
blob replaced mid-read raises ``BlobModifiedError`` instead of mixing versions.
"""

from __future__ import annotations

import concurrent.futures
import mmap

from azstoragetorch._core._blob_client import DEFAULT_OPTIONS, BlobClient, properties_from_headers
from azstoragetorch._core._body import BODY_ERRORS, BodyReader
from azstoragetorch.exceptions import BlobServiceError
from azstoragetorch.io._memory import fill_new_bytes, prefault
from azstoragetorch.options import ClientOptions

__all__ = ["MAX_CONCURRENCY", "PART_SIZE", "BlobReader", "split_parts"]

_MIB = 1024 * 1024


# Measured on Azurite: ranges of 8 MiB or less pay a per-request cost (it checksums
# every ranged GET of 4 MiB or less), while 32 MiB ranges on 4 threads move about
# 650 MiB/s; so parts are 32 MiB and never smaller than half a part unless the data is.
PART_SIZE = 32 * _MIB
MAX_CONCURRENCY = 4


def split_parts(size: int, part_size: int, min_part: int) -> list[tuple[int, int]]:
    """Cut ``size`` bytes into (offset, length) parts fetched in parallel.

    Parts are about ``part_size`` and never smaller than ``min_part`` unless the whole
    is: large requests move data fastest, and small ones pay Azurite's checksum cost.
    """
    if size <= 0:
        return []
    count = max(1, min(size // min_part, -(-size // part_size)))
    step = -(-size // count)
    return [(offset, min(step, size - offset)) for offset in range(0, size, step)]


class BlobReader:
    """Positional reads of one blob version (``BlobIO`` keeps the file position)."""

    def __init__(self, client: BlobClient, options: ClientOptions = DEFAULT_OPTIONS) -> None:
        self._client = client
        # Sequential reading doubles the window once: fewer, larger requests.
        self._max_read_ahead = 2 * options.read_ahead
        self._part_size = options.part_size or PART_SIZE
        self._min_part = max(1, self._part_size // 2)
        self._max_concurrency = options.max_concurrency or MAX_CONCURRENCY
        self._window = memoryview(b"")
        self._window_start = 0
        self._window_size = options.read_ahead
        # The buffer of the window read before the current one: the next window is
        # received into it when the sizes match, instead of into fresh memory that
        # this thread would allocate, zero and fault in.
        self._spare: bytearray | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        # The window after the current one, fetched in the background while the
        # caller reads sequentially: (start, buffer, the fetch filling it).
        self._next: tuple[int, bytearray, concurrent.futures.Future[None]] | None = None
        # What holds the content of a reader made by ``from_content`` (closed with it).
        self._content: object = None
        self.size, self.etag = self._open()

    @classmethod
    def from_content(cls, content: bytes | bytearray | mmap.mmap, etag: str) -> BlobReader:
        """A reader over a blob's whole ``content`` already at hand (a local copy).

        Its one window is the whole blob, so no read ever sends a request; closing
        it closes ``content`` if that is a memory map.
        """
        self = cls.__new__(cls)
        self._window = memoryview(content)
        self._window_start = 0
        self._window_size = max(1, len(content))
        self._spare = None
        self._executor = None
        self._next = None
        self._content = content
        self.size, self.etag = len(content), etag
        return self

    def _open(self) -> tuple[int, str]:
        """Fetch the first window; its response also tells the size and ETag."""
        try:
            response = self._client.open_range(0, self._window_size - 1, etag=None)
        except BlobServiceError as error:
            if error.status_code != 416:  # an empty blob refuses every range
                raise
            response = self._client.open_range(0, None, etag=None)
        body = BodyReader(response)
        properties = properties_from_headers(response.headers)
        window = bytearray(int(response.headers.get("Content-Length", 0)))
        try:
            body.readinto(memoryview(window))
        except BODY_ERRORS:
            body.discard()
            # The first window is only read ahead: fetch it again, conditionally,
            # with the client's resuming read.
            self._client.read_into(0, memoryview(window), properties.etag)
        else:
            body.release()
        self._window = memoryview(window)
        return properties.size, properties.etag

    def whole(self) -> memoryview | None:
        """The blob's whole content, if the window holds all of it (a blob no larger
        than the first window): read-only, valid until the reader is closed."""
        if self._window_start == 0 and len(self._window) == self.size:
            return self._window.toreadonly()
        return None

    # -- the public operations ----------------------------------------------------

    def readinto(self, position: int, destination: memoryview) -> int:
        """Copy the blob's bytes from ``position`` into ``destination``; returns the count."""
        count = max(0, min(len(destination), self.size - position))
        done = self._copy_from_window(position, destination[:count])
        rest = count - done
        if rest >= self._window_size:
            self._fetch(position + done, destination[done:count])
        elif rest:
            self._refill(position + done)
            self._copy_from_window(position + done, destination[done:count])
        return count

    def read(self, position: int, size: int) -> bytes:
        """The blob's bytes from ``position``, at most ``size`` of them."""
        count = max(0, min(size, self.size - position))
        offset = position - self._window_start
        if offset >= 0 and offset + count <= len(self._window):
            return bytes(self._window[offset : offset + count])
        if count < self._window_size:
            self._refill(position)  # may start before position, near the end
            offset = position - self._window_start
            return bytes(self._window[offset : offset + count])
        return fill_new_bytes(count, lambda view: self.readinto(position, view))

    def find_line_end(self, position: int, limit: int) -> int:
        """The position just past the next ``\\n`` at or after ``position``.

        Looks at most ``limit`` bytes ahead (``-1``: no limit); returns the end of the
        blob or ``position + limit`` if no newline comes first.
        """
        end = self.size if limit < 0 else min(self.size, position + limit)
        while position < end:
            offset = position - self._window_start
            if not 0 <= offset < len(self._window):
                self._refill(position)  # may start before position, near the end
                offset = position - self._window_start
            stop = min(len(self._window), end - self._window_start)
            found: int = self._window.obj.find(b"\n", offset, stop)  # type: ignore[attr-defined]
            if found >= 0:
                return self._window_start + found + 1
            position = self._window_start + stop
        return end

    def close(self) -> None:
        self._window = memoryview(b"")
        content, self._content = self._content, None
        if isinstance(content, mmap.mmap):
            # The window was its only export, and is gone: the map can close now.
            content.close()
        self._spare = None
        self._next = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    # -- the window ---------------------------------------------------------------

    def _copy_from_window(self, position: int, destination: memoryview) -> int:
        offset = position - self._window_start
        if not 0 <= offset < len(self._window):
            return 0
        count = min(len(destination), len(self._window) - offset)
        destination[:count] = self._window[offset : offset + count]
        return count

    def _refill(self, position: int) -> None:
        sequential = bool(self._window) and position == self._window_start + len(self._window)
        # Sequential reads double the window (up to a cap): fewer, larger requests.
        if sequential:
            self._window_size = min(self._window_size * 2, self._max_read_ahead)
        # Keep the old window's buffer for reuse; nothing else refers to it (reads
        # copy out of the window) and no fetch is writing into it.
        old = self._window.obj
        self._window = memoryview(b"")
        self._spare = old if isinstance(old, bytearray) else None
        prefetched = self._take_prefetched(position)
        if prefetched is not None:
            self._window_start, window = prefetched
        else:
            # Near the end, anchor the window on the end of the blob, where readers of
            # zip archives (torch.load) walk backwards from the central directory.
            self._window_start = min(position, max(0, self.size - self._window_size))
            window = self._buffer(min(self._window_size, self.size - self._window_start))
            self._fetch(self._window_start, memoryview(window), mapped=True)
        self._window = memoryview(window)
        if sequential or prefetched is not None:
            self._prefetch(self._window_start + len(window))

    def _prefetch(self, start: int) -> None:
        """Start fetching the window that begins at ``start`` in the background."""
        if start >= self.size:
            self._spare = None  # the end: no window will need it
            return
        buffer = self._buffer(min(self._window_size, self.size - start))
        future = self._pool().submit(self._client.read_into, start, memoryview(buffer), self.etag)
        self._next = (start, buffer, future)

    def _buffer(self, size: int) -> bytearray:
        """A window buffer of ``size`` bytes: the spare one if it fits exactly."""
        spare, self._spare = self._spare, None
        return spare if spare is not None and len(spare) == size else bytearray(size)

    def _take_prefetched(self, position: int) -> tuple[int, bytearray] | None:
        """The prefetched window if it holds ``position`` (waiting for it), else None."""
        if self._next is None:
            return None
        start, buffer, future = self._next
        self._next = None
        if not start <= position < start + len(buffer):
            return None  # the reader jumped elsewhere: the fetch is wasted, not waited for
        future.result()  # raises what the fetch raised, e.g. BlobModifiedError
        return start, buffer

    # -- fetching -----------------------------------------------------------------

    def _fetch(self, position: int, destination: memoryview, *, mapped: bool = False) -> None:
        """Fill ``destination`` from ``position`` with parallel ranged GETs.

        ``mapped``: the destination's memory is known to be mapped already (a window
        buffer, zeroed or used before), so prefaulting it would only walk its pages.
        """
        parts = split_parts(len(destination), self._part_size, self._min_part)
        if len(parts) <= 1:
            self._read_part(position, destination, not mapped)
            return
        pool = self._pool()
        futures = [
            pool.submit(
                self._read_part,
                position + offset,
                destination[offset : offset + length],
                not mapped,
            )
            for offset, length in parts
        ]
        # Wait for every part before returning or raising: they write into the
        # caller's memory.
        concurrent.futures.wait(futures)
        for future in futures:
            future.result()

    def _read_part(self, start: int, destination: memoryview, map_first: bool) -> None:
        # Mapping the part's pages here, on the part's own thread (for a read in
        # several parts), keeps that work in parallel with the other parts' transfers.
        if map_first:
            prefault(destination)
        self._client.read_into(start, destination, self.etag)

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            # One more thread than parallel parts, for the background prefetch.
            self._executor = concurrent.futures.ThreadPoolExecutor(
                self._max_concurrency + 1, thread_name_prefix="azstoragetorch-read"
            )
        return self._executor
