"""Reading blobs ahead of the transform, with one pool of threads per process.

Small blobs cost a request each, so a dataset reads several at once: while the
transform works on one blob, the next ones are already being fetched. The pool is
created on first use and never crosses a ``fork``: a forked DataLoader worker
starts without it and makes its own when it first needs it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
from collections.abc import Generator, Iterable

from azstoragetorch._core._process_local import ProcessLocal
from azstoragetorch.datasets._blob import Blob

__all__ = ["MAX_THREADS", "READ_AHEAD", "ReadAhead", "executor", "read_ahead"]

# Requests in flight per process. With many DataLoader workers the total grows with
# them; eight keeps one process well inside core's connection pool (32).
MAX_THREADS = 8
# Blobs started ahead of the one being transformed: twice the threads, so the pool
# stays busy while the calling thread transforms. Each holds at most the first read
# window of a blob (16 MiB, less for smaller blobs).
READ_AHEAD = 2 * MAX_THREADS

_pool: ProcessLocal[concurrent.futures.ThreadPoolExecutor] = ProcessLocal(
    lambda: concurrent.futures.ThreadPoolExecutor(
        MAX_THREADS, thread_name_prefix="azstoragetorch-dataset"
    )
)


def executor() -> concurrent.futures.ThreadPoolExecutor:
    """This process's pool, created on first use (a forked child makes its own)."""
    return _pool.get()


class ReadAhead:
    """Whether reading ahead pays off for a dataset's transform, learned as it runs.

    A transform that never calls ``Blob.reader()`` (one that only looks at names or
    properties) would make every read ahead a wasted request: after ``READ_AHEAD``
    blobs in a row whose reader went unused, reading ahead stops, and it resumes as
    soon as the transform calls ``reader()`` again.
    """

    __slots__ = ("active", "unused")

    def __init__(self) -> None:
        self.active = True
        self.unused = 0

    def note(self, blob: Blob) -> None:
        """Record whether the transform read ``blob``."""
        if blob._reader_called:
            self.active = True
            self.unused = 0
        else:
            self.unused += 1
            if self.unused >= READ_AHEAD:
                self.active = False


def read_ahead(
    blobs: Iterable[Blob], policy: ReadAhead, depth: int = READ_AHEAD
) -> Generator[Blob, None, None]:
    """Yield ``blobs`` in order while the readers of the next ``depth`` are being opened.

    The consumer gets each blob with its reader opening (or opened) in this
    process's pool. A reader the consumer did not take is closed when the consumer
    asks for the next blob, or when the generator is closed. An error from
    ``blobs`` (a page that could not be listed) is raised after the blobs taken
    before it have been handed out, where it would have been without reading ahead.
    """
    pool = executor()
    iterator = iter(blobs)
    pending: collections.deque[Blob] = collections.deque()
    failure: Exception | None = None
    try:
        while True:
            # Top up before handing a blob out, so `depth` reads stay under way
            # while the consumer works.
            if failure is None:
                try:
                    for coming in itertools.islice(iterator, depth - len(pending)):
                        pending.append(coming)
                except Exception as error:
                    failure = error
            if not pending:
                if failure is not None:
                    raise failure
                return
            if policy.active:
                for waiting in pending:
                    waiting._start_reading(pool)
            blob = pending.popleft()
            try:
                yield blob
                policy.note(blob)
            finally:
                blob._release()
    finally:
        for blob in pending:
            blob._release()
