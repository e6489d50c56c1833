"""``IterableBlobDataset``: an iterable-style dataset, one sample per blob."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast, overload

import torch.utils.data

from azstoragetorch._core._credentials import Credential
from azstoragetorch.datasets._blob import Blob, BlobSample, to_sample
from azstoragetorch.datasets._dataset_clients import clients_for
from azstoragetorch.datasets._read_ahead import ReadAhead, read_ahead
from azstoragetorch.datasets._sharding import ProcessGroup, process_group, shard
from azstoragetorch.datasets._sources import (
    BlobURLs,
    ContainerListing,
    check_prefix,
    check_transform,
    parse_blob_urls,
    parse_container_url,
)
from azstoragetorch.options import ClientOptions

__all__ = ["IterableBlobDataset"]

_T_co = TypeVar("_T_co", covariant=True)
_T = TypeVar("_T")


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

    @overload
    @classmethod
    def from_container_url(
        cls,
        container_url: str,
        *,
        prefix: str | None = None,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: None = None,
    ) -> IterableBlobDataset[BlobSample]: ...
    @overload
    @classmethod
    def from_container_url(
        cls,
        container_url: str,
        *,
        prefix: str | None = None,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: Callable[[Blob], _T],
    ) -> IterableBlobDataset[_T]: ...
    @classmethod
    def from_container_url(
        cls,
        container_url: str,
        *,
        prefix: str | None = None,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: Callable[[Blob], Any] | None = None,
    ) -> IterableBlobDataset[Any]:
        """A dataset of the blobs in a container, listed as it is iterated.

        ::

            dataset = IterableBlobDataset.from_container_url(
                "https://<account>.blob.core.windows.net/<container>"
            )

        No request is sent until the dataset is iterated, so a container that does
        not exist is reported then.

        :param container_url: The container's URL. A SAS token in its query string
            is used for the listing and for every blob.
        :param prefix: Only blobs whose names start with it become samples, e.g.
            ``"images/"`` for a virtual directory. All blobs when not given.
            Directory markers of accounts with a hierarchical namespace are never
            samples.
        :param credential: ``None`` (the default) uses
            ``azure.identity.DefaultAzureCredential``; also accepted are an
            ``AzureSasCredential``, an ``AzureNamedKeyCredential`` (account key),
            any ``TokenCredential``, and ``False`` for anonymous access. Ignored when
            the URL carries a SAS token.
        :param options: Timeouts, retries and transfer sizes for every request of the
            dataset, as a :class:`~azstoragetorch.options.ClientOptions`; ``None``
            uses the defaults.
        :param transform: Called with each :class:`Blob` to make its sample; see
            :class:`Blob`.
        :returns: The dataset, in listing order (by blob name). An empty container
            or a prefix that matches nothing gives a dataset that yields nothing.
        :raises ValueError: for a URL that does not name a container (or names a
            blob: use ``prefix``), or a token credential over ``http``.
        :raises TypeError: for arguments of the wrong type.

        Iterating raises :class:`~azstoragetorch.exceptions.BlobNotFoundError` if
        the container does not exist.
        """
        clients = clients_for(credential, options)
        url = parse_container_url(container_url, clients)
        check_prefix(prefix)
        check_transform(transform)
        return cls(ContainerListing(url, prefix, clients), transform)

    @overload
    @classmethod
    def from_blob_urls(
        cls,
        blob_urls: str | Iterable[str],
        *,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: None = None,
    ) -> IterableBlobDataset[BlobSample]: ...
    @overload
    @classmethod
    def from_blob_urls(
        cls,
        blob_urls: str | Iterable[str],
        *,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: Callable[[Blob], _T],
    ) -> IterableBlobDataset[_T]: ...
    @classmethod
    def from_blob_urls(
        cls,
        blob_urls: str | Iterable[str],
        *,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: Callable[[Blob], Any] | None = None,
    ) -> IterableBlobDataset[Any]:
        """A dataset of the given blobs, in the given order.

        ::

            container_url = "https://<account>.blob.core.windows.net/<container>"
            dataset = IterableBlobDataset.from_blob_urls(
                [f"{container_url}/<blob-1>", f"{container_url}/<blob-2>"]
            )

        :param blob_urls: One blob URL, or any iterable of them (a generator is read
            once, now). A SAS token, ``snapshot`` or ``versionid`` in a URL's query
            string is honoured for that blob. The blobs may live in different
            containers and accounts.
        :param credential: As for :meth:`from_container_url`; ignored for URLs that
            carry a SAS token.
        :param options: As for :meth:`from_container_url`.
        :param transform: Called with each :class:`Blob` to make its sample.
        :returns: The dataset.
        :raises TypeError: if ``blob_urls`` holds something other than a str (the
            message says which element), or for arguments of the wrong type.
        :raises ValueError: for a URL that names no blob (saying which element).
        """
        clients = clients_for(credential, options)
        urls = parse_blob_urls(blob_urls, clients)
        check_transform(transform)
        return cls(BlobURLs(urls, clients), transform)

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
