"""``IterableBlobDataset``: an iterable-style dataset, one sample per blob."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch.utils.data

from azstoragetorch._core._credentials import Credential
from azstoragetorch.datasets import _factories
from azstoragetorch.datasets._blob import Blob, to_sample
from azstoragetorch.datasets._read_ahead import ReadAhead, read_ahead
from azstoragetorch.datasets._resume import (
    ITERABLE_KIND,
    Progress,
    check_state,
    dataset_identity,
    field,
    skip_yielded,
)
from azstoragetorch.datasets._sharding import (
    ProcessGroup,
    UnevenShares,
    check_sharding,
    process_group,
    rank_share,
    worker_info,
)
from azstoragetorch.datasets._shuffle import (
    DEFAULT_BUFFER_SIZE,
    check_epoch,
    check_seed,
    check_shuffle,
    shuffled,
)
from azstoragetorch.datasets._sources import Source, check_transform
from azstoragetorch.options import ClientOptions

if TYPE_CHECKING:
    from azstoragetorch.datasets._factories import Sample

__all__ = ["IterableBlobDataset"]

_T_co = TypeVar("_T_co", covariant=True)


class IterableBlobDataset(torch.utils.data.IterableDataset[_T_co]):
    """Iterable-style dataset over blobs in Azure Blob Storage, one sample per blob.

    Create it with :meth:`from_container_url` (lists the container lazily, a page
    of up to 5,000 names at a time, each time it is iterated) or
    :meth:`from_blob_urls`::

        from azstoragetorch.datasets import IterableBlobDataset

        dataset = IterableBlobDataset.from_container_url(
            "https://<account>.blob.core.windows.net/<container>"
        )
        print(next(iter(dataset))["url"])

    Instantiating this class directly using ``__init__()`` is not supported.

    **Samples.** Without a ``transform`` a sample is a dict with the blob's
    ``"url"`` (without any query, so never a SAS token) and its content as
    ``bytes`` under ``"data"``. With a ``transform``, a sample is whatever
    ``transform(blob)`` returns for the :class:`Blob`. While one sample is made,
    the next 16 blobs are already being read, 8 at a time; the ``transform`` runs
    in the iterating thread, in order, so it needs no thread safety.

    **Sharding.** With a :class:`~torch.utils.data.DataLoader` of several workers,
    and across the ranks of an initialised ``torch.distributed`` process group,
    the samples are dealt out round-robin in epoch order (listing order, or its
    shuffle): sample ``i`` goes to rank ``i % world_size`` and, within it, to
    worker ``(i // world_size) % num_workers``. One rank's DataLoader with
    ``batch_size=1`` yields its samples in epoch order. Every rank must create the
    dataset over the same blobs. With ``shard_by_rank=False`` every rank gets all
    the samples, still divided among its workers.

    **Listing.** A rank's DataLoader workers share one listing per epoch: the first
    to start lists the container a page at a time into a file, in a directory
    private to the user under the temporary directory, that the others read as it
    grows. So there is one listing per rank per epoch, whatever ``num_workers``,
    and the first sample waits only for the first page. A listing error is raised
    in every worker; if the listing worker dies, the others raise ``RuntimeError``.

    **Equal shares for DDP.** When the number of samples is not a multiple of the
    world size, ``uneven_shares`` decides: ``"pad"`` (the default) repeats samples
    from the start of the epoch so every rank yields the same number,
    ``ceil(n / world_size)``, as :class:`~torch.utils.data.DistributedSampler`
    does by default; ``"drop"`` leaves out the last ``n % world_size`` samples so
    every rank yields ``n // world_size``, each sample at most once; ``"uneven"``
    yields every sample exactly once and lets shares differ by one. With
    ``"uneven"``, a DDP rank that runs out of batches first waits in a collective
    for the others until it times out, so the default is one that cannot hang.

    **Shuffling.** With ``shuffle=True`` the epoch's order is a function of
    ``(seed, epoch)`` only, the same on every rank and worker, so the shares
    still partition the epoch; call :meth:`set_epoch` before each epoch for a new
    order. It is a buffer shuffle over the lazy listing: ``shuffle_buffer_size``
    entries (10,000 by default) are held per worker, and each next entry takes
    the place of a randomly drawn one. ``shuffle_buffer_size=None`` holds the
    whole listing per worker and gives a uniform shuffle.

    **Resuming mid-epoch.** With torchdata's ``StatefulDataLoader``, a loader's
    ``state_dict()`` saved after some batches and loaded into a new loader (in a
    new process too) yields the rest of the epoch in the same order; the skipped
    samples are listed again but not read. See :meth:`state_dict`.

    The dataset pickles, so ``fork``, ``spawn`` and ``forkserver`` workers all work
    (the ``transform`` and credential must pickle for the latter two), as do
    ``persistent_workers=True`` and any number of epochs.
    """

    def __init__(
        self, blobs: Iterable[Blob], transform: Callable[[Blob], _T_co] | None = None
    ) -> None:
        self._blobs = blobs
        check_transform(transform)
        self._transform = cast(Callable[[Blob], _T_co], transform or to_sample)
        self._read_ahead = ReadAhead()
        # The process group of the process that pickled the dataset: a spawned
        # DataLoader worker does not join it, yet must shard across its ranks.
        self._process_group: ProcessGroup | None = None
        self._shard_by_rank = True
        self._uneven_shares: UnevenShares = "pad"
        self._shuffle = False
        self._seed = 0
        self._buffer_size: int | None = DEFAULT_BUFFER_SIZE
        self._epoch = 0
        self._iterating = 0
        # Mid-epoch resume: the progress of the current (or last) iteration in this
        # process, and the one load_state_dict() asked the next iteration to resume.
        self._progress: Progress | None = None
        self._resume: Progress | None = None
        self._identity: str | None = None

    def _configure(
        self,
        *,
        shard_by_rank: object,
        uneven_shares: object,
        shuffle: object,
        seed: object,
        shuffle_buffer_size: object,
    ) -> IterableBlobDataset[_T_co]:
        check_sharding(shard_by_rank, uneven_shares)
        check_shuffle(shuffle, shuffle_buffer_size)
        self._shard_by_rank = cast(bool, shard_by_rank)
        self._uneven_shares = cast(UnevenShares, uneven_shares)
        self._shuffle = cast(bool, shuffle)
        self._seed = check_seed(seed)
        self._buffer_size = cast("int | None", shuffle_buffer_size)
        return self

    # -- construction -------------------------------------------------------------

    @classmethod
    @_factories.documented(_factories.from_container_url_doc("IterableBlobDataset", lazily=True))
    def from_container_url(
        cls: type[IterableBlobDataset[Any]],
        container_url: str,
        *,
        prefix: str | None = None,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: Callable[[Blob], Sample] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_max_bytes: int | None = None,
        shard_by_rank: bool = True,
        uneven_shares: UnevenShares = "pad",
        shuffle: bool = False,
        seed: int | None = None,
        shuffle_buffer_size: int | None = DEFAULT_BUFFER_SIZE,
    ) -> IterableBlobDataset[Sample]:
        blobs = _factories.container_blobs(
            container_url,
            prefix,
            credential,
            options,
            transform,
            cache_dir=cache_dir,
            cache_max_bytes=cache_max_bytes,
            lazily=True,
        )
        return cls(blobs, transform)._configure(
            shard_by_rank=shard_by_rank,
            uneven_shares=uneven_shares,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer_size=shuffle_buffer_size,
        )

    @classmethod
    @_factories.documented(_factories.from_blob_urls_doc("IterableBlobDataset", lazily=True))
    def from_blob_urls(
        cls: type[IterableBlobDataset[Any]],
        blob_urls: str | Iterable[str],
        *,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: Callable[[Blob], Sample] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_max_bytes: int | None = None,
        shard_by_rank: bool = True,
        uneven_shares: UnevenShares = "pad",
        shuffle: bool = False,
        seed: int | None = None,
        shuffle_buffer_size: int | None = DEFAULT_BUFFER_SIZE,
    ) -> IterableBlobDataset[Sample]:
        blobs = _factories.blob_url_blobs(
            blob_urls,
            credential,
            options,
            transform,
            cache_dir=cache_dir,
            cache_max_bytes=cache_max_bytes,
        )
        return cls(blobs, transform)._configure(
            shard_by_rank=shard_by_rank,
            uneven_shares=uneven_shares,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer_size=shuffle_buffer_size,
        )

    # -- the IterableDataset protocol ---------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch the next iteration shuffles for; call it before each epoch.

        With ``shuffle=True`` the order is a function of ``(seed, epoch)`` alone, the
        same on every rank and worker, and different for each epoch. Like
        :meth:`torch.utils.data.distributed.DistributedSampler.set_epoch`, call it
        on every rank before creating the epoch's iterator (before ``for batch in
        loader``). DataLoader workers receive the epoch when they start, so use it
        without ``persistent_workers=True``.

        :raises TypeError: if ``epoch`` is not an int.
        :raises ValueError: if ``epoch`` is negative.
        :raises RuntimeError: if this dataset is being iterated in this process.
        """
        checked = check_epoch(epoch)
        if self._iterating:
            raise RuntimeError(
                "set_epoch() was called while the dataset is being iterated: call it "
                "before the epoch starts, e.g. before `for batch in loader:`."
            )
        self._epoch = checked

    def __iter__(self) -> Iterator[_T_co]:
        """Yield this worker's (and rank's) share of the samples, in epoch order.

        After :meth:`load_state_dict`, the share resumes after the samples the
        state counts as yielded.
        """
        resume, self._resume = self._resume, None
        # Set now, not when the first sample is asked for: a state_dict() taken
        # between iter() and the first sample describes this iteration.
        self._progress = dataclasses.replace(resume) if resume else Progress(self._epoch)
        return self._samples(self._progress, resume)

    def _samples(self, progress: Progress, resume: Progress | None) -> Iterator[_T_co]:
        self._iterating += 1
        try:
            blobs = self._share()
            if resume is not None:
                skip_yielded(blobs, resume)
            with contextlib.closing(read_ahead(blobs, self._read_ahead)) as ahead:
                for blob in ahead:
                    sample = self._transform(blob)
                    # Counted before it is handed out: a state taken once the
                    # DataLoader has the sample must not yield it again.
                    progress.note(blob)
                    yield sample
        finally:
            self._iterating -= 1

    # -- mid-epoch resume (torchdata's StatefulDataLoader) ------------------------

    def state_dict(self) -> dict[str, Any]:
        """Where this process's iteration of the epoch got to, for a mid-epoch resume.

        torchdata's ``StatefulDataLoader`` calls it in each DataLoader worker (or in
        the main process without workers) and keeps the result in its own
        ``state_dict()``; you rarely call it yourself. The state holds the epoch,
        the number of samples of this worker's share yielded so far and a digest
        of their names, the shuffle and sharding settings, and the container URL
        and prefix (or a hash of the blob URLs) of the dataset, never a SAS token
        nor the listing: a few hundred bytes, however many blobs there are.
        """
        progress = self._resume or self._progress or Progress(self._epoch)
        rank, world_size, worker, num_workers = self._position()
        return {
            "azstoragetorch": ITERABLE_KIND,
            "version": 1,
            "dataset": self._dataset_identity(),
            "shuffle": self._shuffle,
            "seed": self._seed,
            "shuffle_buffer_size": self._buffer_size,
            "shard_by_rank": self._shard_by_rank,
            "uneven_shares": self._uneven_shares,
            "rank": rank,
            "world_size": world_size,
            "worker": worker,
            "num_workers": num_workers,
            "epoch": progress.epoch,
            "yielded": progress.count,
            "digest": progress.digest.hex(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume the next iteration where the state from :meth:`state_dict` left off.

        The next iteration (only that one) relists the container, skips the
        samples the state counts as yielded without reading them, and yields the
        rest of the epoch in the same order. It also sets the epoch to the
        state's. torchdata's ``StatefulDataLoader.load_state_dict()`` calls it in
        each worker with that worker's state; create the loader with the same
        ``num_workers``, on the same rank of a process group of the same size.

        :raises TypeError: if ``state_dict`` is not a dict, or one of its values
            has the wrong type.
        :raises ValueError: if the state is not an ``IterableBlobDataset`` state,
            comes from a dataset over other blobs, or from one with other
            ``shuffle``, ``seed``, ``shuffle_buffer_size``, ``shard_by_rank`` or
            ``uneven_shares``, or from another rank, world size, worker or number
            of workers.

        Iterating raises ``ValueError`` if the container changed so that the
        samples yielded before are no longer the first of this worker's share
        (see "Resuming mid-epoch" in the datasets guide).
        """
        state = check_state(state_dict, ITERABLE_KIND, self._dataset_identity())
        settings: list[tuple[str, object, type[Any]]] = [
            ("shuffle", self._shuffle, bool),
            ("seed", self._seed, int),
            ("shuffle_buffer_size", self._buffer_size, object),
            ("shard_by_rank", self._shard_by_rank, bool),
            ("uneven_shares", self._uneven_shares, str),
        ]
        names = ("rank", "world_size", "worker", "num_workers")
        position = zip(names, self._position(), strict=True)
        settings += [(name, value, int) for name, value in position]
        for name, value, kind in settings:
            saved = field(state, name, kind)
            if saved != value:
                raise ValueError(
                    f"The state was saved with {name}={saved!r}, and this dataset "
                    f"iterates with {name}={value!r}: resume with the same dataset "
                    "settings, DataLoader num_workers and process group as were saved."
                )
        epoch, count = field(state, "epoch", int), field(state, "yielded", int)
        digest = field(state, "digest", str)
        if epoch < 0 or count < 0:
            raise ValueError(
                f"The state's epoch ({epoch}) and yielded count ({count}) must be 0 or more."
            )
        try:
            raw = bytes.fromhex(digest)
        except ValueError:
            raise ValueError("The state's 'digest' is not hexadecimal.") from None
        self._epoch = epoch
        self._resume = Progress(epoch, count, raw)

    def _position(self) -> tuple[int, int, int, int]:
        """``(rank, world_size, worker, num_workers)`` whose share this process yields."""
        rank, world_size = (0, 1)
        if self._shard_by_rank:
            rank, world_size = process_group() or self._process_group or (0, 1)
        return (rank, world_size, *worker_info())

    def _dataset_identity(self) -> str:
        if self._identity is None:
            self._identity = dataset_identity(self._blobs)
        return self._identity

    def _share(self) -> Iterator[Blob]:
        """This worker's blobs: the epoch's order, dealt to ranks, then to workers."""
        source = self._blobs
        if isinstance(source, Source):
            entries: Iterator[Any] = source.entries()
            blob_for: Callable[[Any], Blob] = source.blob_for
        else:
            entries, blob_for = iter(source), _same
        if self._shuffle:
            entries = shuffled(entries, self._seed, self._epoch, self._buffer_size)
        rank, world_size, worker, num_workers = self._position()
        if self._shard_by_rank:
            entries = rank_share(entries, rank, world_size, self._uneven_shares)
        return map(blob_for, itertools.islice(entries, worker, None, num_workers))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_iterating"] = 0
        # Progress belongs to the process that iterated; each DataLoader worker gets
        # its own state from StatefulDataLoader.
        state["_progress"] = state["_resume"] = None
        state["_process_group"] = process_group() or self._process_group
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._blobs!r})"


def _same(blob: Blob) -> Blob:
    return blob
