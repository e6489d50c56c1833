"""``IterableBlobDataset``: an iterable-style dataset, one sample per blob."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch.utils.data

from azstoragetorch._core._credentials import Credential
from azstoragetorch.datasets import _factories
from azstoragetorch.datasets._blob import Blob, to_sample
from azstoragetorch.datasets._read_ahead import ReadAhead, read_ahead
from azstoragetorch.datasets._sharding import ProcessGroup, process_group, shard
from azstoragetorch.datasets._sources import check_transform
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
    the samples are dealt out round-robin in listing order: sample ``i`` goes to
    rank ``i % world_size`` and, within it, to worker
    ``(i // world_size) % num_workers``. Every sample is yielded exactly once, the
    ranks' shares differ by at most one sample, and one rank's DataLoader with
    ``batch_size=1`` yields the samples in listing order. Every rank must create
    the dataset over the same blobs. Each worker lists the whole container and keeps
    its share.

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
    ) -> IterableBlobDataset[Sample]:
        blobs = _factories.container_blobs(
            container_url, prefix, credential, options, transform, lazily=True
        )
        return cls(blobs, transform)

    @classmethod
    @_factories.documented(_factories.from_blob_urls_doc("IterableBlobDataset", lazily=True))
    def from_blob_urls(
        cls: type[IterableBlobDataset[Any]],
        blob_urls: str | Iterable[str],
        *,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: Callable[[Blob], Sample] | None = None,
    ) -> IterableBlobDataset[Sample]:
        blobs = _factories.blob_url_blobs(blob_urls, credential, options, transform)
        return cls(blobs, transform)

    # -- the IterableDataset protocol ---------------------------------------------

    def __iter__(self) -> Iterator[_T_co]:
        """Yield this worker's (and rank's) share of the samples, in listing order."""
        start, step = shard(self._process_group)
        select = getattr(self._blobs, "select", None)
        blobs: Iterator[Blob] = (
            select(start, step)
            if callable(select)
            else itertools.islice(self._blobs, start, None, step)
        )
        with contextlib.closing(read_ahead(blobs, self._read_ahead)) as ahead:
            for blob in ahead:
                yield self._transform(blob)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_process_group"] = process_group() or self._process_group
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._blobs!r})"
