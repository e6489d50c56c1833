"""``BlobDataset``: a map-style dataset, one sample per blob."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast, overload

import torch.utils.data

from azstoragetorch._core._credentials import Credential
from azstoragetorch.datasets._blob import Blob, BlobSample, to_sample
from azstoragetorch.datasets._dataset_clients import clients_for
from azstoragetorch.datasets._read_ahead import ReadAhead, read_ahead
from azstoragetorch.datasets._shuffle import reject_map_shuffle
from azstoragetorch.datasets._sources import (
    BlobURLs,
    ListedBlobs,
    check_prefix,
    check_transform,
    parse_blob_urls,
    parse_container_url,
)

__all__ = ["BlobDataset"]

_T_co = TypeVar("_T_co", covariant=True)
_T = TypeVar("_T")


class BlobDataset(torch.utils.data.Dataset[_T_co]):
    """Map-style dataset over blobs in Azure Blob Storage: sample ``i`` is blob ``i``.

    Create it with :meth:`from_container_url` (lists the container now) or
    :meth:`from_blob_urls`::

        from azstoragetorch.datasets import BlobDataset

        dataset = BlobDataset.from_container_url(
            "https://<account>.blob.core.windows.net/<container>", prefix="train/"
        )
        print(len(dataset), dataset[0]["url"])

    Instantiating this class directly using ``__init__()`` is not supported.

    **Samples.** Without a ``transform`` a sample is a dict with the blob's
    ``"url"`` (without any query, so never a SAS token) and its content as
    ``bytes`` under ``"data"``. With a ``transform``, a sample is whatever
    ``transform(blob)`` returns for the :class:`Blob`.

    **With a DataLoader.** Pass the dataset to :class:`torch.utils.data.DataLoader`
    with any sampler, including :class:`~torch.utils.data.DistributedSampler`. For
    each batch the DataLoader asks for, the blobs are read with up to 8 requests in
    flight; the ``transform`` still runs in the calling thread, one blob after the
    other in batch order, so it needs no thread safety and seeded randomness stays
    reproducible. Every process (DataLoader workers included) makes its own
    connections on first use; the dataset pickles, so ``fork``, ``spawn`` and
    ``forkserver`` workers all work, as long as the ``transform`` and credential
    pickle too for the latter two.
    """

    def __init__(
        self, blobs: Iterable[Blob], transform: Callable[[Blob], _T_co] | None = None
    ) -> None:
        self._blobs: Sequence[Blob] = blobs if isinstance(blobs, Sequence) else list(blobs)
        check_transform(transform)
        self._transform = cast(Callable[[Blob], _T_co], transform or to_sample)
        self._read_ahead = ReadAhead()

    # -- construction -------------------------------------------------------------

    @overload
    @classmethod
    def from_container_url(
        cls,
        container_url: str,
        *,
        prefix: str | None = None,
        credential: Credential = None,
        transform: None = None,
    ) -> BlobDataset[BlobSample]: ...
    @overload
    @classmethod
    def from_container_url(
        cls,
        container_url: str,
        *,
        prefix: str | None = None,
        credential: Credential = None,
        transform: Callable[[Blob], _T],
    ) -> BlobDataset[_T]: ...
    @classmethod
    def from_container_url(
        cls,
        container_url: str,
        *,
        prefix: str | None = None,
        credential: Credential = None,
        transform: Callable[[Blob], Any] | None = None,
        **_internal_only_kwargs: Any,
    ) -> BlobDataset[Any]:
        """A dataset of the blobs in a container, listed now with the List Blobs API.

        ::

            dataset = BlobDataset.from_container_url(
                "https://<account>.blob.core.windows.net/<container>"
            )

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
        :param transform: Called with each :class:`Blob` to make its sample; see
            :class:`Blob`.
        :returns: The dataset, in listing order (by blob name). An empty container
            or a prefix that matches nothing gives an empty dataset.
        :raises BlobNotFoundError: if the container does not exist.
        :raises ValueError: for a URL that does not name a container (or names a
            blob: use ``prefix``), or a token credential over ``http``.
        :raises TypeError: for arguments of the wrong type.
        """
        reject_map_shuffle(_internal_only_kwargs)
        clients = clients_for(credential, "from_container_url", _internal_only_kwargs)
        url = parse_container_url(container_url, clients)
        check_prefix(prefix)
        check_transform(transform)
        return cls(ListedBlobs.from_listing(url, prefix, clients), transform)

    @overload
    @classmethod
    def from_blob_urls(
        cls,
        blob_urls: str | Iterable[str],
        *,
        credential: Credential = None,
        transform: None = None,
    ) -> BlobDataset[BlobSample]: ...
    @overload
    @classmethod
    def from_blob_urls(
        cls,
        blob_urls: str | Iterable[str],
        *,
        credential: Credential = None,
        transform: Callable[[Blob], _T],
    ) -> BlobDataset[_T]: ...
    @classmethod
    def from_blob_urls(
        cls,
        blob_urls: str | Iterable[str],
        *,
        credential: Credential = None,
        transform: Callable[[Blob], Any] | None = None,
        **_internal_only_kwargs: Any,
    ) -> BlobDataset[Any]:
        """A dataset of the given blobs, in the given order.

        ::

            container_url = "https://<account>.blob.core.windows.net/<container>"
            dataset = BlobDataset.from_blob_urls(
                [f"{container_url}/<blob-1>", f"{container_url}/<blob-2>"]
            )

        No request is sent until a sample is read.

        :param blob_urls: One blob URL, or any iterable of them (a generator is read
            once, now). A SAS token, ``snapshot`` or ``versionid`` in a URL's query
            string is honoured for that blob. The blobs may live in different
            containers and accounts.
        :param credential: As for :meth:`from_container_url`; ignored for URLs that
            carry a SAS token.
        :param transform: Called with each :class:`Blob` to make its sample.
        :returns: The dataset.
        :raises TypeError: if ``blob_urls`` holds something other than a str (the
            message says which element), or for arguments of the wrong type.
        :raises ValueError: for a URL that names no blob (saying which element).
        """
        reject_map_shuffle(_internal_only_kwargs)
        clients = clients_for(credential, "from_blob_urls", _internal_only_kwargs)
        urls = parse_blob_urls(blob_urls, clients)
        check_transform(transform)
        return cls(BlobURLs(urls, clients), transform)

    # -- the Dataset protocol -----------------------------------------------------

    def __len__(self) -> int:
        """The number of samples (blobs)."""
        return len(self._blobs)

    def __getitem__(self, index: int) -> _T_co:
        """Sample ``index``: reads the blob and applies the transform.

        :raises IndexError: for an index outside the dataset.
        :raises BlobNotFoundError: if the blob no longer exists.
        """
        return self._transform(self._blobs[index])

    def __getitems__(self, indices: list[int]) -> list[_T_co]:
        """The samples at ``indices``, in that order, reading several blobs at once.

        A DataLoader with batching calls this for each batch. Up to 16 blobs past
        the one being transformed are read ahead, 8 at a time.
        """
        if len(indices) < 2:
            return [self[index] for index in indices]
        blobs = (self._blobs[index] for index in indices)
        with contextlib.closing(read_ahead(blobs, self._read_ahead)) as ahead:
            return [self._transform(blob) for blob in ahead]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._blobs!r})"
