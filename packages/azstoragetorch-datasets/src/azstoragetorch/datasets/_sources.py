"""Where a dataset's blobs come from: a container listing or a list of blob URLs.

The collections keep the least that describes each blob (a listed name and its
properties, or a URL string) and make :class:`Blob` objects as they are used, so a
dataset of millions of blobs stays small in memory and quick to pickle for
DataLoader workers.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, Protocol, TypeVar, cast, overload, runtime_checkable

from azstoragetorch._core._listing import ListedBlob, ListedFields, iter_pages, listed_properties
from azstoragetorch._core._url import BlobURL
from azstoragetorch.datasets._blob import Blob
from azstoragetorch.datasets._cache import BlobCache
from azstoragetorch.datasets._dataset_clients import ClientFactory
from azstoragetorch.datasets._shared_listing import shared_entries, slot

__all__ = [
    "BlobURLs",
    "ContainerListing",
    "ListedBlobs",
    "Source",
    "check_prefix",
    "check_transform",
    "parse_blob_urls",
    "parse_container_url",
]


def parse_container_url(container_url: object, clients: ClientFactory) -> BlobURL:
    """Check a container URL and the credential for it; raises before any request."""
    if not isinstance(container_url, str):
        raise TypeError(f"container_url must be a str, not {type(container_url).__name__}.")
    url = BlobURL.parse(container_url)
    url.require_container()
    if url.blob_name is not None:
        raise ValueError(
            f"The URL {url.url} names a blob, not a container: pass "
            f"{url.container_url!r} as the container URL and prefix={url.blob_name!r} "
            "to use the blobs whose names start with it."
        )
    clients.check(url)
    return url


def parse_blob_urls(blob_urls: object, clients: ClientFactory) -> list[str]:
    """Check every blob URL and the credential for each endpoint; returns them as a list.

    :raises TypeError: if ``blob_urls`` is not a str or an iterable of str, naming
        the first element that is not a str.
    :raises ValueError: for a URL that names no blob, naming its position.
    """
    if isinstance(blob_urls, str):
        urls: list[object] = [blob_urls]
    elif isinstance(blob_urls, (bytes, bytearray)) or not isinstance(blob_urls, Iterable):
        raise TypeError(
            "blob_urls must be a blob URL (str) or an iterable of them, not "
            f"{type(blob_urls).__name__}."
        )
    else:
        urls = list(blob_urls)
    checked: set[tuple[str, bool]] = set()
    for index, url in enumerate(urls):
        if not isinstance(url, str):
            # The value itself is not shown: it may be a URL holding a SAS.
            raise TypeError(
                f"blob_urls[{index}] is a {type(url).__name__}, not a str: every element "
                "must be a blob URL."
            )
        try:
            parsed = BlobURL.parse(url)
            parsed.require_blob()
        except ValueError as error:
            raise ValueError(f"blob_urls[{index}]: {error}") from None
        key = (parsed.account_url, parsed.has_sas)
        if key not in checked:
            clients.check(parsed)
            checked.add(key)
    return urls  # type: ignore[return-value]  # every element was checked above


def check_prefix(prefix: object) -> None:
    if prefix is not None and not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str or None, not {type(prefix).__name__}.")


def check_transform(transform: object) -> None:
    if transform is not None and not callable(transform):
        raise TypeError(
            f"transform must be a callable taking a Blob, not {type(transform).__name__}."
        )


@runtime_checkable
class Source(Protocol):
    """Where an iterable dataset's blobs come from: entries, made into blobs on demand.

    Entries are cheap to order, shuffle and deal out; only a worker's own share is
    made into :class:`Blob` objects.
    """

    def entries(self) -> Iterator[Any]: ...

    def blob_for(self, item: Any) -> Blob: ...


_Item = TypeVar("_Item")
_Page = TypeVar("_Page")


class _BlobSequence(Sequence[Blob], Generic[_Item]):
    """Blobs made on demand from a list of items (listing entries or URLs).

    Only the blobs asked for are made, so sharding and random access over millions
    of items stay cheap.
    """

    def __init__(
        self, items: list[_Item], clients: ClientFactory, cache: BlobCache | None = None
    ) -> None:
        self._items = items
        self._clients = clients
        self._cache = cache

    def _blob(self, item: _Item) -> Blob:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Blob: ...
    @overload
    def __getitem__(self, index: slice) -> list[Blob]: ...
    def __getitem__(self, index: int | slice) -> Blob | list[Blob]:
        if isinstance(index, slice):
            return [self._blob(item) for item in self._items[index]]
        return self._blob(self._items[index])

    def __iter__(self) -> Iterator[Blob]:
        return map(self._blob, self._items)

    def entries(self) -> Iterator[_Item]:
        """The items in order; a blob is made only for those passed to ``blob_for``."""
        return iter(self._items)

    def blob_for(self, item: _Item) -> Blob:
        return self._blob(item)


class ListedBlobs(_BlobSequence[ListedFields]):
    """The blobs of a finished listing, in listing order."""

    def __init__(
        self,
        container: BlobURL,
        entries: list[ListedFields],
        clients: ClientFactory,
        cache: BlobCache | None = None,
    ) -> None:
        super().__init__(entries, clients, cache)
        self.container = container

    @classmethod
    def from_listing(
        cls,
        container: BlobURL,
        prefix: str | None,
        clients: ClientFactory,
        cache: BlobCache | None = None,
    ) -> ListedBlobs:
        """List the whole container now, page by page."""
        pages = iter_pages(
            container,
            clients.pipeline(container),
            clients.used(container),
            prefix=prefix,
            options=clients.options,
        )
        # Kept as plain tuples: a spawned worker receives the whole listing.
        entries = cast(
            "list[ListedFields]", [tuple(entry) for page in pages_ahead(pages) for entry in page]
        )
        return cls(container, entries, clients, cache)

    def _blob(self, entry: ListedFields) -> Blob:
        return _listed_blob(self.container, self._clients, entry, self._cache)

    def __repr__(self) -> str:
        return f"<{len(self)} blobs listed from {self.container.container_url}>"


def pages_ahead(pages: Iterator[_Page]) -> Iterator[_Page]:
    """The pages of ``pages``, each next one asked for while the one before is used.

    One thread advances ``pages``, never two steps at once; an error in a page is
    raised where that page would have been yielded, after the pages before it.
    Closing the iterator early leaves at most one unused page being fetched.
    """
    pool = concurrent.futures.ThreadPoolExecutor(1, "azstoragetorch-listing")
    coming = pool.submit(next, pages, None)
    try:
        while True:
            page = coming.result()
            if page is None:
                return
            coming = pool.submit(next, pages, None)
            yield page
    finally:
        # The idle thread is joined, so a DataLoader forking its workers next finds
        # no other thread; one still fetching a page nobody will use is not waited for.
        pool.shutdown(wait=coming.done(), cancel_futures=True)


def _listed_blob(
    container: BlobURL, clients: ClientFactory, entry: ListedFields, cache: BlobCache | None
) -> Blob:
    return Blob(container.blob(entry[0]), clients, listed_properties(entry), cache)


class BlobURLs(_BlobSequence[str]):
    """The blobs named by a list of URLs, in that order."""

    def _blob(self, url: str) -> Blob:
        return Blob(BlobURL.parse(url), self._clients, cache=self._cache)

    def __repr__(self) -> str:
        return f"<{len(self)} blob URLs>"


class ContainerListing(Iterable[Blob]):
    """The blobs of a container, listed page by page each time it is iterated.

    In the DataLoader workers of a process, one listing per iteration is shared by
    them all (see ``_shared_listing``).
    """

    def __init__(
        self,
        container: BlobURL,
        prefix: str | None,
        clients: ClientFactory,
        cache: BlobCache | None = None,
    ) -> None:
        self.container = container
        self.prefix = prefix
        self._clients = clients
        self._cache = cache
        # Names this listing among the spools of a rank's workers (it is pickled
        # with the dataset, so every worker has the same), and counts the listings
        # started in this process (and, copied with the dataset, in the one it came
        # from): the same count in every worker of an iteration.
        self._listing_id = uuid.uuid4().hex[:16]
        self._passes = 0

    def __iter__(self) -> Iterator[Blob]:
        return map(self.blob_for, self.entries())

    def entries(self) -> Iterator[ListedFields]:
        """The entries of a new listing; pages are fetched as the iterator advances.

        A DataLoader worker reads the listing its iteration's workers share.
        """
        self._passes += 1
        where = slot(self._listing_id, self._passes)
        if where is not None:
            return shared_entries(self._pages, where)
        return itertools.chain.from_iterable(pages_ahead(self._pages()))

    def _pages(self) -> Iterator[list[ListedBlob]]:
        return iter_pages(
            self.container,
            self._clients.pipeline(self.container),
            self._clients.used(self.container),
            prefix=self.prefix,
            options=self._clients.options,
        )

    def blob_for(self, entry: ListedFields) -> Blob:
        return _listed_blob(self.container, self._clients, entry, self._cache)

    def __repr__(self) -> str:
        prefix = f" with prefix {self.prefix!r}" if self.prefix else ""
        return f"<blobs listed lazily from {self.container.container_url}{prefix}>"
