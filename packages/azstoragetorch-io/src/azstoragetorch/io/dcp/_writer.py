"""``BlobStorageWriter``: the storage side of ``dcp.save`` and ``dcp.async_save``."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import heapq
import io
import os
import pickle
import threading
import uuid
from typing import Any

import torch
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta
from torch.distributed.checkpoint.planner import SavePlan, SavePlanner, WriteItem
from torch.distributed.checkpoint.storage import StorageWriter, WriteResult
from torch.futures import Future

from azstoragetorch._core._blob_client import BlobClient, ClientOptions
from azstoragetorch._core._client_factory import reject_unknown
from azstoragetorch._core._credentials import Credential
from azstoragetorch.exceptions import (
    BlobNotFoundError,
    BlobServiceError,
    CheckpointExistsError,
    FatalBlobIOWriteError,
)
from azstoragetorch.io._memory import tensor_memory
from azstoragetorch.io._reader import BlobReader
from azstoragetorch.io._writer import BlobWriter, WriteOptions
from azstoragetorch.io.dcp._layout import (
    LAYOUT_VERSION,
    METADATA_NAME,
    TENSOR_ALIGNMENT,
    StoredItem,
    data_blob_prefix,
)
from azstoragetorch.io.dcp._location import Located

__all__ = ["BlobStorageWriter"]

_MIB = 1024 * 1024
# Per data blob. Each rank writes FILES_PER_RANK blobs at once, so a rank holds at
# most FILES_PER_RANK * max_buffer of data not yet uploaded.
_WRITE_OPTIONS = WriteOptions(block_size=32 * _MIB, max_buffer=128 * _MIB, max_concurrency=4)
_FILES_PER_RANK = 2


@dataclasses.dataclass(frozen=True)
class _RankFiles:
    """A save plan's storage data: how the rank's data blob names start."""

    prefix: str


class BlobStorageWriter(Located, StorageWriter):
    """Saves a distributed checkpoint under a prefix of a container.

    Pass it to ``torch.distributed.checkpoint.save`` or ``async_save`` on every rank::

        import torch.distributed.checkpoint as dcp
        from azstoragetorch.io.dcp import BlobStorageWriter

        url = "https://<account>.blob.core.windows.net/<container>/checkpoints/step-2000"
        dcp.save({"model": model.state_dict()}, storage_writer=BlobStorageWriter(url))

    Each rank uploads its share of the state dict to data blobs of its own, in
    parallel, with the same upload path as :class:`~azstoragetorch.io.BlobIO`:
    bounded memory, an MD5 checksum on every request, and blobs committed only when
    complete. When every rank has succeeded, the coordinator writes the
    ``<prefix>/.metadata`` blob, last; it is what makes the checkpoint loadable. If any
    rank fails, the save raises on every rank and writes no metadata, so a failed
    save never looks like a checkpoint.

    Each save writes its data into a folder of its own under the prefix, named by a
    random save ID, and the metadata refers only to the blobs this save wrote. So
    replacing a checkpoint (``overwrite=True``) never changes the blobs the old
    metadata points to: until the new metadata is committed, the old checkpoint is
    intact and loadable. The data blobs of a replaced checkpoint, and those of a
    failed save, stay in the container until you delete them.

    :param url: The checkpoint's location: a container URL and the prefix as its path,
        ``https://<account>.blob.core.windows.net/<container>/<prefix>``. A SAS in
        the query string is honoured. A ``checkpoint_id`` passed to ``dcp.save``
        replaces it.
    :param credential: As for :class:`~azstoragetorch.io.BlobIO`: ``None`` (the
        default) uses ``azure.identity.DefaultAzureCredential``; also accepted are an
        ``AzureSasCredential``, an ``AzureNamedKeyCredential``, any
        ``TokenCredential``, and ``False`` for anonymous access. Ignored when the URL
        carries a SAS token.
    :param overwrite: Whether to replace a checkpoint that already exists at the
        location. ``False`` (the default) makes the save fail with
        :class:`~azstoragetorch.exceptions.CheckpointExistsError` before anything is
        uploaded if ``<prefix>/.metadata`` exists, and at the end if another save
        committed a checkpoint there in the meantime (that one is kept).
    :raises ValueError: for a URL that names no container, or a snapshot or version.
    :raises TypeError: for a credential of an unsupported type.

    ``dcp.save`` reports a failure on any rank as
    ``torch.distributed.checkpoint.api.CheckpointException``, whose ``failures``
    holds each failed rank's exception; the future of ``dcp.async_save`` raises it.
    """

    def __init__(
        self,
        url: str,
        *,
        credential: Credential = None,
        overwrite: bool = False,
        **_internal_only_kwargs: Any,
    ) -> None:
        super().__init__()
        self._options: ClientOptions = _internal_only_kwargs.pop("client_options", ClientOptions())
        self._write_options: WriteOptions = _internal_only_kwargs.pop(
            "write_options", _WRITE_OPTIONS
        )
        self._files_per_rank: int = _internal_only_kwargs.pop("files_per_rank", _FILES_PER_RANK)
        reject_unknown(_internal_only_kwargs, "BlobStorageWriter()")
        self._credential = credential
        self._locate(url)
        self._overwrite = overwrite
        self._save_id = _new_save_id()

    def __repr__(self) -> str:
        return f"<BlobStorageWriter {self.checkpoint_id} overwrite={self._overwrite}>"

    # -- the steps of a save, in the order DCP calls them ---------------------------

    def reset(self, checkpoint_id: str | os.PathLike[str] | None = None) -> None:
        """Start a new save, at ``checkpoint_id`` (a location URL) if given."""
        if checkpoint_id:
            self._locate(checkpoint_id)
        self._save_id = _new_save_id()

    def set_up_storage_writer(self, is_coordinator: bool, *args: Any, **kwargs: Any) -> None:
        # DCP passes use_collectives only to a parameter named "kwargs".
        if not kwargs.get("use_collectives", True):
            raise ValueError(
                "BlobStorageWriter writes one metadata blob for all ranks and needs "
                "dcp.save(..., use_collectives=True), the default."
            )

    def storage_meta(self) -> StorageMeta:
        return StorageMeta(checkpoint_id=self.checkpoint_id, save_id=self._save_id)

    def prepare_local_plan(self, plan: SavePlan) -> SavePlan:
        return plan

    def prepare_global_plan(self, plans: list[SavePlan]) -> list[SavePlan]:
        # Runs on the coordinator only, before any rank writes: one request decides
        # for all, and a refusal reaches every rank as the save's failure.
        if not self._overwrite and self._metadata_exists():
            raise CheckpointExistsError(
                f"A distributed checkpoint already exists at {self.checkpoint_id} (found "
                f"{self._location.blob_url(METADATA_NAME)}); nothing was written. Pass "
                "overwrite=True to BlobStorageWriter to replace it, or save to another prefix."
            )
        # The coordinator's save ID names the folder, so every rank's data is together.
        return [
            dataclasses.replace(
                plan, storage_data=_RankFiles(data_blob_prefix(self._save_id, rank))
            )
            for rank, plan in enumerate(plans)
        ]

    def write_data(self, plan: SavePlan, planner: SavePlanner) -> Future[list[WriteResult]]:
        files: _RankFiles = plan.storage_data
        buckets = _split_by_size(plan.items, self._files_per_rank)
        failed = threading.Event()
        results: list[WriteResult] = []
        with concurrent.futures.ThreadPoolExecutor(
            max(1, len(buckets)), thread_name_prefix="azstoragetorch-dcp-write"
        ) as pool:
            futures = [
                pool.submit(self._write_blob, f"{files.prefix}{n}.distcp", items, planner, failed)
                for n, items in enumerate(buckets)
            ]
            concurrent.futures.wait(futures)
        for future in futures:
            error = future.exception()
            # A blob that stopped because another failed is not the cause to report.
            if error is not None and not isinstance(error, _Cancelled):
                raise error
        for future in futures:
            results.extend(future.result())
        done: Future[list[WriteResult]] = Future()
        done.set_result(results)
        return done

    def finish(self, metadata: Metadata, results: list[list[WriteResult]]) -> None:
        # Only the blobs this save wrote are referenced, whatever else is at the prefix.
        metadata.storage_data = {
            result.index: result.storage_data for rank in results for result in rank
        }
        metadata.storage_meta = self.storage_meta()
        metadata.version = LAYOUT_VERSION
        payload = pickle.dumps(metadata, protocol=pickle.HIGHEST_PROTOCOL)
        client = self._location.client(METADATA_NAME)
        # Without overwrite, the commit itself refuses an existing checkpoint: another
        # save to the same prefix may have committed since prepare_global_plan checked.
        writer = BlobWriter(client, self._write_options, create_only=not self._overwrite)
        try:
            writer.write(memoryview(payload))
            writer.commit()
        except FatalBlobIOWriteError as error:
            writer.abort()
            if not _already_exists(error):
                raise
            if _holds(client, payload):
                return  # our own commit, whose response was lost and retried
            raise CheckpointExistsError(
                f"Another save committed a distributed checkpoint at {self.checkpoint_id} "
                "while this one was running; it was kept, and this save's data was left "
                f"unreferenced in {self.checkpoint_id}/{self._save_id}/. "
                "Pass overwrite=True to BlobStorageWriter to replace it, or save to another "
                "prefix."
            ) from None
        except BaseException:
            writer.abort()
            raise

    # -- helpers --------------------------------------------------------------------

    def _metadata_exists(self) -> bool:
        try:
            self._location.client(METADATA_NAME).get_properties()
        except BlobNotFoundError:
            return False
        return True

    def _write_blob(
        self,
        name: str,
        items: list[WriteItem],
        planner: SavePlanner,
        failed: threading.Event,
    ) -> list[WriteResult]:
        """Upload ``items`` one after another as the data blob ``name``."""
        writer = BlobWriter(self._location.client(name), self._write_options)
        results = []
        try:
            for item in items:
                if failed.is_set():
                    raise _Cancelled
                results.append(_write_item(writer, name, item, planner.resolve_data(item)))
            writer.commit()
        except BaseException:
            failed.set()
            writer.abort()
            raise
        return results


def _already_exists(error: FatalBlobIOWriteError) -> bool:
    cause = error.__cause__
    return isinstance(cause, BlobServiceError) and cause.error_code == "BlobAlreadyExists"


def _holds(client: BlobClient, payload: bytes) -> bool:
    """Whether the blob's content is ``payload`` (it names this save's own folder)."""
    reader = BlobReader(client)
    try:
        return reader.size == len(payload) and reader.read(0, reader.size) == payload
    finally:
        reader.close()


def _write_item(
    writer: BlobWriter, name: str, item: WriteItem, data: torch.Tensor | io.BytesIO
) -> WriteResult:
    offset = writer.written
    if isinstance(data, io.BytesIO):
        with data.getbuffer() as view:
            writer.write(view)
        stored = StoredItem(name, offset, writer.written - offset)
    else:
        # Raw bytes in C order, aligned like torch's own allocations: a reader can
        # fetch part of a tensor and use the fetched memory as a tensor.
        tensor = data.detach().cpu().resolve_conj().resolve_neg().contiguous()
        padding = -offset % TENSOR_ALIGNMENT
        if padding:
            writer.write(memoryview(bytes(padding)))
            offset += padding
        writer.write(tensor_memory(tensor))
        stored = StoredItem(
            name, offset, writer.written - offset, tensor.dtype, tuple(tensor.shape)
        )
    return WriteResult(index=item.index, size_in_bytes=stored.length, storage_data=stored)


def _item_size(item: WriteItem) -> int:
    if item.tensor_data is not None:
        return item.tensor_data.properties.dtype.itemsize * int(
            torch.Size(item.tensor_data.chunk.sizes).numel()
        )
    if item.bytes_io_data is not None:
        return item.bytes_io_data.nbytes
    return 0


def _split_by_size(items: list[WriteItem], count: int) -> list[list[WriteItem]]:
    """Deal ``items`` into at most ``count`` lists of about equal bytes, keeping order."""
    if not items:
        return []
    heap = [(0, index) for index in range(min(count, len(items)))]
    owner: dict[int, int] = {}
    for position in sorted(range(len(items)), key=lambda i: -_item_size(items[i])):
        load, index = heapq.heappop(heap)
        owner[position] = index
        heapq.heappush(heap, (load + _item_size(items[position]), index))
    buckets: list[list[WriteItem]] = [[] for _ in heap]
    for position, item in enumerate(items):
        buckets[owner[position]].append(item)
    return [bucket for bucket in buckets if bucket]


def _new_save_id() -> str:
    return uuid.uuid4().hex


class _Cancelled(Exception):
    """Another data blob of this rank failed first; this one stopped early."""
