"""Writing a blob so that it appears whole or not at all.

Written data is copied once, into buffers that grow up to the block size. Data
that fits in one block when the writer is closed goes up in a single Put Blob.
Larger data is staged as blocks uploaded in parallel while the caller keeps
writing, and committed by one Put Block List at close. Nothing is visible until
that commit, so a failed or abandoned writer leaves any existing blob untouched.
Every request carries a Content-MD5 that the service checks.
"""

from __future__ import annotations

import base64
import concurrent.futures
import threading
import uuid

from azstoragetorch._core._blob_client import BlobClient, content_md5
from azstoragetorch.exceptions import FatalBlobIOWriteError

__all__ = ["BlobWriter", "WriteOptions"]

_MIB = 1024 * 1024


class WriteOptions:
    """Sizes that shape the write path.

    :param block_size: Bytes per staged block (Azure allows 50,000 blocks per blob).
        Measured on Azurite, 64 MiB blocks with a Content-MD5 on 4 threads upload
        fastest; smaller blocks pay more per-request cost.
    :param max_buffer: The most written-but-not-uploaded bytes held at once: the
        block being filled plus those uploading. ``write`` waits beyond it.
    :param max_concurrency: Parallel block uploads.
    """

    def __init__(
        self,
        *,
        block_size: int = 64 * _MIB,
        max_buffer: int = 256 * _MIB,
        max_concurrency: int = 4,
    ) -> None:
        if block_size <= 0 or max_buffer < block_size:
            raise ValueError(
                f"max_buffer ({max_buffer}) must be at least one block ({block_size} bytes)."
            )
        self.block_size = block_size
        self.max_buffer = max_buffer
        self.max_concurrency = max_concurrency


class BlobWriter:
    """Buffers, stages and commits the data written through one ``BlobIO``."""

    def __init__(
        self, client: BlobClient, options: WriteOptions | None = None, *, create_only: bool = False
    ) -> None:
        self._client = client
        self._options = options or WriteOptions()
        # Commit only if the blob does not exist yet (the service refuses with 409).
        self._create_only = create_only
        self._block: bytearray | None = None
        self._block_ids: list[str] = []
        self._futures: list[concurrent.futures.Future[None]] = []
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        # Buffers held: the one being filled and those uploading.
        self._held = 0
        self._max_held = self._options.max_buffer // self._options.block_size
        self._condition = threading.Condition()
        self._error: BaseException | None = None
        # Block IDs must be unique to this writer (another writer may be staging
        # blocks for the same blob) and all of one length.
        self._id_prefix = uuid.uuid4().hex
        self.written = 0

    # -- writing ------------------------------------------------------------------

    def write(self, data: memoryview) -> None:
        self._raise_if_failed()
        block_size = self._options.block_size
        offset = 0
        while offset < len(data):
            if self._block is None:
                self._acquire_buffer()
                # Grown as data arrives, never allocated at full block size: a
                # small blob costs its own size, not a zero-filled 64 MiB.
                self._block = bytearray()
            count = min(len(data) - offset, block_size - len(self._block))
            self._block += data[offset : offset + count]
            offset += count
            self.written += count
            if len(self._block) == block_size:
                self._stage_current_block()

    def flush(self) -> None:
        """Stage what is buffered and wait for every upload."""
        self._raise_if_failed()
        if self._block:
            self._stage_current_block()
        self._wait_for_uploads()

    def commit(
        self, *, content_type: str = "application/octet-stream", blob_md5: str | None = None
    ) -> None:
        """Make everything written visible as the blob's content.

        ``blob_md5`` (base64), the MD5 of all the data, is stored as the blob's
        ``Content-MD5`` when the data went up in blocks; a single Put Blob stores the
        MD5 of its body anyway.
        """
        self._raise_if_failed()
        try:
            if not self._block_ids:
                # One request: the data fits in one block (possibly empty).
                data = memoryview(self._block or b"")
                self._client.put_blob(
                    data,
                    content_md5(data),
                    create_only=self._create_only,
                    content_type=content_type,
                )
            else:
                if self._block:
                    self._stage_current_block()
                self._wait_for_uploads()
                self._client.put_block_list(
                    self._block_ids,
                    create_only=self._create_only,
                    content_type=content_type,
                    blob_md5=blob_md5,
                )
        except FatalBlobIOWriteError:
            raise
        except BaseException as error:
            self._fail(error)
            raise FatalBlobIOWriteError(error) from error
        finally:
            self._release_block()
            self._shutdown()

    def abort(self) -> None:
        """Drop everything: nothing is committed. Staged blocks expire on their own."""
        self._release_block()
        with self._condition:
            if self._error is None:
                self._error = _Aborted()
            self._condition.notify_all()
        for future in self._futures:
            future.cancel()
        self._shutdown()

    # -- staging ------------------------------------------------------------------

    def _stage_current_block(self) -> None:
        assert self._block is not None
        data = memoryview(self._block)
        block_id = base64.b64encode(
            f"{self._id_prefix}-{len(self._block_ids):06d}".encode()
        ).decode()
        self._block_ids.append(block_id)
        self._block = None  # the upload task owns the buffer now
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                self._options.max_concurrency, thread_name_prefix="azstoragetorch-write"
            )
        future = self._executor.submit(self._upload_block, block_id, data)
        self._futures.append(future)

    def _upload_block(self, block_id: str, data: memoryview) -> None:
        try:
            with self._condition:
                if self._error is not None:
                    return
            self._client.put_block(block_id, data, content_md5(data))
        except BaseException as error:
            self._fail(error)
        finally:
            data.release()
            with self._condition:
                self._held -= 1
                self._condition.notify_all()

    def _acquire_buffer(self) -> None:
        with self._condition:
            while self._held >= self._max_held and self._error is None:
                self._condition.wait()
            self._raise_if_failed()
            self._held += 1

    def _release_block(self) -> None:
        if self._block is not None:
            self._block = None
            with self._condition:
                self._held -= 1
                self._condition.notify_all()

    def _wait_for_uploads(self) -> None:
        concurrent.futures.wait(self._futures)
        self._futures = [future for future in self._futures if not future.done()]
        self._raise_if_failed()

    # -- failure ------------------------------------------------------------------

    def _fail(self, error: BaseException) -> None:
        with self._condition:
            if self._error is None:
                self._error = error
            self._condition.notify_all()

    def _raise_if_failed(self) -> None:
        error = self._error
        if error is not None:
            if isinstance(error, FatalBlobIOWriteError):
                raise error
            self._error = FatalBlobIOWriteError(error)
            raise self._error from error

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


class _Aborted(Exception):
    """Marks a writer whose data was deliberately dropped."""

    def __str__(self) -> str:
        return "the BlobIO was closed by an exception or garbage-collected before close()"
