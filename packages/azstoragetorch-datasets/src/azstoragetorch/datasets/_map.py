"""``BlobDataset``: a map-style dataset, one sample per blob."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import torch.utils.data

from azstoragetorch._core._credentials import Credential
from azstoragetorch.datasets import _factories
from azstoragetorch.datasets._blob import Blob, to_sample
from azstoragetorch.datasets._read_ahead import ReadAhead, read_ahead
from azstoragetorch.datasets._resume import MAP_KIND, check_state, dataset_identity
from azstoragetorch.datasets._shuffle import reject_map_shuffle
from azstoragetorch.datasets._sources import check_transform
from azstoragetorch.options import ClientOptions

if TYPE_CHECKING:
    from azstoragetorch.datasets._factories import Sample

__all__ = ["BlobDataset"]

_T_co = TypeVar("_T_co", covariant=True)


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

    **Resuming mid-epoch.** With torchdata's ``StatefulDataLoader`` the sampler's
    position is saved and restored, so a resumed loader reads only the samples the
    epoch has not yielded yet; see :meth:`state_dict`.
    """

    def __init__(
        self, blobs: Iterable[Blob], transform: Callable[[Blob], _T_co] | None = None
    ) -> None:
        self._blobs: Sequence[Blob] = blobs if isinstance(blobs, Sequence) else list(blobs)
        check_transform(transform)
        self._transform = cast(Callable[[Blob], _T_co], transform or to_sample)
        self._read_ahead = ReadAhead()
        self._identity: str | None = None

    # -- construction -------------------------------------------------------------

    @classmethod
    @_factories.documented(_factories.from_container_url_doc("BlobDataset", lazily=False))
    def from_container_url(
        cls: type[BlobDataset[Any]],
        container_url: str,
        *,
        prefix: str | None = None,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: Callable[[Blob], Sample] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_max_bytes: int | None = None,
        **unsupported: NoReturn,
    ) -> BlobDataset[Sample]:
        reject_map_shuffle("from_container_url", unsupported)
        blobs = _factories.container_blobs(
            container_url,
            prefix,
            credential,
            options,
            transform,
            cache_dir=cache_dir,
            cache_max_bytes=cache_max_bytes,
            lazily=False,
        )
        return cls(blobs, transform)

    @classmethod
    @_factories.documented(_factories.from_blob_urls_doc("BlobDataset", lazily=False))
    def from_blob_urls(
        cls: type[BlobDataset[Any]],
        blob_urls: str | Iterable[str],
        *,
        credential: Credential = None,
        options: ClientOptions | None = None,
        transform: Callable[[Blob], Sample] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_max_bytes: int | None = None,
        **unsupported: NoReturn,
    ) -> BlobDataset[Sample]:
        reject_map_shuffle("from_blob_urls", unsupported)
        blobs = _factories.blob_url_blobs(
            blob_urls,
            credential,
            options,
            transform,
            cache_dir=cache_dir,
            cache_max_bytes=cache_max_bytes,
        )
        return cls(blobs, transform)

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

    # -- mid-epoch resume (torchdata's StatefulDataLoader) ------------------------

    def state_dict(self) -> dict[str, Any]:
        """What a resumed loader checks the dataset against: which blobs it holds.

        A map-style dataset keeps no progress: ``StatefulDataLoader`` resumes it
        through its sampler. The state names the dataset by a hash of its blob
        URLs (without their query strings, so never a SAS token), so that a state
        is not loaded into a dataset over other blobs, where the sampler's indices
        would pick other samples.
        """
        return {"azstoragetorch": MAP_KIND, "version": 1, "dataset": self._dataset_identity()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Check that ``state_dict`` was saved from a dataset over the same blobs.

        :raises TypeError: if ``state_dict`` is not a dict.
        :raises ValueError: if it is not a ``BlobDataset`` state, or was saved
            from a dataset over other blobs (another container or prefix, or a
            container whose listing has changed since).
        """
        check_state(state_dict, MAP_KIND, self._dataset_identity())

    def _dataset_identity(self) -> str:
        if self._identity is None:
            self._identity = dataset_identity(self._blobs)
        return self._identity

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._blobs!r})"
