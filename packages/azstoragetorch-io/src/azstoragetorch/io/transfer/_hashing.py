"""An MD5 computed on another thread while the caller moves the bytes on."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib

__all__ = ["BackgroundMD5"]


class BackgroundMD5:
    """Feeds chunks to one MD5, in order, on a thread of its own.

    ``hashlib`` releases the GIL on large updates, so hashing a large file overlaps
    with uploading it instead of adding to it. At most two chunks wait, which bounds
    the memory held. Chunks must not change once given: pass ``bytes``.
    """

    def __init__(self) -> None:
        self._digest = hashlib.md5()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, "azstoragetorch-md5")
        self._pending: list[concurrent.futures.Future[None]] = []

    def update(self, chunk: bytes) -> None:
        if len(self._pending) >= 2:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._digest.update, chunk))

    def wait(self) -> None:
        """Until every queued chunk is hashed (its buffer may then be reused)."""
        for future in self._pending:
            future.result()
        self._pending.clear()

    def b64digest(self) -> str:
        self.wait()
        return base64.b64encode(self._digest.digest()).decode("ascii")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
