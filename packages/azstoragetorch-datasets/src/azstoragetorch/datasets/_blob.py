"""``Blob``: one blob of a dataset, as a transform sees it."""

from __future__ import annotations

import concurrent.futures
import datetime
import email.utils
import os
from typing import Any, TypedDict

from azure.core.pipeline import Pipeline
from azure.core.pipeline.transport import HttpResponse

from azstoragetorch._core._blob_client import (
    BlobClient,
    BlobProperties,
    properties_from_headers,
)
from azstoragetorch._core._body import BODY_ERRORS, BodyReader
from azstoragetorch._core._credentials import UsedCredential
from azstoragetorch._core._url import BlobURL
from azstoragetorch.datasets._cache import IN_MEMORY, BlobCache, Entry, Lock, check_cache
from azstoragetorch.datasets._dataset_clients import ClientFactory
from azstoragetorch.io import BlobIO
from azstoragetorch.options import ClientOptions

__all__ = ["Blob", "BlobSample", "to_sample"]


class Blob:
    """One blob in a dataset, handed to the dataset's ``transform``.

    Use its properties and :meth:`reader` to turn the blob into a sample::

        from azstoragetorch.datasets import Blob, BlobDataset

        def to_bytes(blob: Blob) -> bytes:
            with blob.reader() as f:
                return f.read()

        dataset = BlobDataset.from_blob_urls(
            "https://<account>.blob.core.windows.net/<container>/<blob>",
            transform=to_bytes,
        )
        print(type(dataset[0]))  # <class 'bytes'>

    ``size``, ``etag``, ``last_modified`` and ``content_type`` come with the listing
    for datasets made by ``from_container_url()`` (they describe the blob as it was
    listed). For datasets made by ``from_blob_urls()`` they are taken from the first
    read of the blob, or, when asked for before any read, fetched once with a HEAD
    request.

    Instantiating this class directly using ``__init__()`` is not supported.
    """

    __slots__ = ("_cache", "_clients", "_opening", "_properties", "_reader_called", "_url")

    def __init__(
        self,
        url: BlobURL,
        clients: ClientFactory,
        properties: BlobProperties | None = None,
        cache: BlobCache | None = None,
    ) -> None:
        self._url = url
        self._clients = clients
        self._properties = properties
        # The dataset's cache (its ``cache_dir``), which reader() uses by default.
        self._cache = cache
        # A reader that the dataset started opening ahead of the transform.
        self._opening: concurrent.futures.Future[BlobIO] | None = None
        self._reader_called = False

    # -- names --------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The blob's URL, without any query string (no SAS token)."""
        return self._url.url

    @property
    def blob_name(self) -> str:
        """The blob's name within its container, e.g. ``"images/cat.png"``."""
        return self._url.require_blob()

    @property
    def container_name(self) -> str:
        """The name of the container holding the blob."""
        return self._url.require_container()

    # -- properties -------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The blob's size in bytes."""
        return self._get_properties().size

    @property
    def etag(self) -> str:
        """The blob's ETag, with quotes as in HTTP headers, e.g. ``'"0x8DC…"'``."""
        return self._get_properties().etag

    @property
    def last_modified(self) -> datetime.datetime | None:
        """When the blob was last written (UTC); ``None`` if the service did not say."""
        text = self._get_properties().last_modified
        return email.utils.parsedate_to_datetime(text) if text else None

    @property
    def content_type(self) -> str | None:
        """The blob's content type, e.g. ``"image/png"``; ``None`` if it has none."""
        return self._get_properties().content_type

    # -- content ------------------------------------------------------------------

    def reader(
        self,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_max_bytes: int | None = None,
    ) -> BlobIO:
        """A file object reading the blob (a :class:`~azstoragetorch.io.BlobIO` in ``"rb"``).

        Use it in a ``with`` block. It reads one version of the blob and shares
        the dataset's connections. Each call returns a new reader.

        With a cache (the dataset's ``cache_dir``, or the one given here), a blob
        with a copy in the cache at its current ETag is read from that copy: the
        ``BlobIO`` then sends no request, and reads, seeks and ``readinto`` work as
        on any other. A blob without a copy is read from storage and its copy
        stored. See the datasets' ``cache_dir`` for how copies are checked.

        :param cache_dir: Read through the cache in this directory rather than the
            dataset's (created with mode 0700 if missing); ``None``: the dataset's
            cache, if it has one.
        :param cache_max_bytes: With ``cache_dir``: the most bytes of copies the
            cache keeps before it removes the least recently used; ``None``: no
            bound but the disk.
        :raises BlobNotFoundError: if the blob no longer exists.
        :raises TypeError: for a ``cache_dir`` or ``cache_max_bytes`` of the wrong type.
        :raises ValueError: for a ``cache_dir`` that is a file, or a
            ``cache_max_bytes`` below 1.
        """
        cache = self._cache
        if cache_dir is not None or cache_max_bytes is not None:
            cache = check_cache(cache_dir, cache_max_bytes)
        self._reader_called = True
        opening = self._opening
        if opening is not None and cache is self._cache:
            self._opening = None
            return opening.result()
        # A reader opened ahead through another cache (or none) is not this one.
        self._release()
        return self._open_through(cache)

    def __repr__(self) -> str:
        return f"Blob({self.url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Blob, (self._url, self._clients, self._properties, self._cache))

    # -- for the datasets ---------------------------------------------------------

    def _open(self) -> BlobIO:
        return self._open_through(self._cache)

    def _open_remote(self) -> tuple[BlobIO, _RecordingClient]:
        client = _RecordingClient(
            self._url,
            self._clients.pipeline(self._url),
            self._clients.options,
            self._clients.used(self._url),
            self,
        )
        return BlobIO._from_client(client, "rb", self._clients.options), client

    # -- through a cache ----------------------------------------------------------

    def _open_through(self, cache: BlobCache | None) -> BlobIO:
        if cache is None:
            return self._open_remote()[0]
        key = cache.key(self._url)
        known = self._properties
        if known is None or not known.etag:
            return self._open_validated(cache, key)
        # The ETag is known (from the listing): a copy at that ETag needs no request.
        name = cache.entry_name(key, known.etag)
        found = None
        # Filling a cold cache, only the look under the lock counts.
        if not cache.filling() or not cache.fits(known.size):
            found = cache.read(name, known.size)
        if found is None and cache.fits(known.size):
            lock = cache.lock(key)
            try:
                # Whoever held the lock before may have just stored the copy.
                found = cache.read(name, known.size)
                cache.looked(found is not None)
                if found is None:
                    return self._fetch_and_store(cache, key, lock, listed=(known.etag, name))
            finally:
                lock.release()
        if found is None:
            return self._open_remote()[0]
        return BlobIO._from_content(self._url, found, known.etag)

    def _open_validated(self, cache: BlobCache, key: str) -> BlobIO:
        """Through ``cache`` when no listing told the ETag: one conditional GET
        checks that the stored copy of blob ``key`` is still the blob's content."""
        checked = cache.read_index(key)
        opened = self._open_if_unchanged(cache, key, checked)
        if opened is not None:
            return opened
        lock = cache.lock(key)
        try:
            # Another process may have stored a copy while this one waited.
            stored = cache.read_index(key)
            if stored is not None and stored != checked:
                opened = self._open_if_unchanged(cache, key, stored)
                if opened is not None:
                    return opened
            return self._fetch_and_store(cache, key, lock)
        finally:
            lock.release()

    def _open_if_unchanged(
        self, cache: BlobCache, key: str, stored: BlobProperties | None
    ) -> BlobIO | None:
        """The stored copy if the service says it is current; the new content if the
        blob changed and fits in memory (stored as well); else ``None``."""
        if stored is None:
            return None
        name = cache.entry_name(key, stored.etag)
        if not os.path.exists(os.path.join(cache.directory, name)):
            return None
        response = self._clients.client(self._url).open_if_changed(stored.etag)
        if response is None:  # 304 Not Modified
            found = cache.read(name, stored.size)
            if found is None:
                return None  # removed meanwhile
            if self._properties is None:
                self._properties = stored
            return BlobIO._from_content(self._url, found, stored.etag)
        # The blob changed and the response holds its new content.
        properties = properties_from_headers(response.headers)
        body = BodyReader(response)
        if properties.size > IN_MEMORY:
            body.discard()
            return None
        content = bytearray(properties.size)
        try:
            body.readinto(memoryview(content))
        except BODY_ERRORS:
            body.discard()
            return None
        body.release()
        if self._properties is None:
            self._properties = properties
        name = cache.entry_name(key, properties.etag)
        cache.store_later(name, content, Lock(-1), (key, properties))
        return BlobIO._from_content(self._url, content, properties.etag)

    def _fetch_and_store(
        self, cache: BlobCache, key: str, lock: Lock, *, listed: tuple[str, str] | None = None
    ) -> BlobIO:
        """Read the blob from storage, store its copy, and return a reader of it.

        ``lock`` (the blob's byte of the lock file) is held until the copy is in
        place: ``store_later`` releases it once the copy is written. ``listed`` is
        the ETag the listing gave and its copy's name; without it, the copy's
        properties are recorded too (the index), for the next conditional GET.
        """
        remote, client = self._open_remote()
        keep_remote = False
        try:
            opened = client.opened
            if opened is None or not cache.fits(opened.size):
                keep_remote = True
                return remote
            if listed is not None and listed[0] == opened.etag:
                name = listed[1]
            else:
                name = cache.entry_name(key, opened.etag)
            key_index = None if listed is not None else (key, opened)
            whole = remote._whole_content()
            if whole is not None:
                # The first GET brought the whole blob: store it from the reader's
                # own buffer, and hand out that reader (no second copy in memory).
                cache.store_later(name, whole, lock.detach(), key_index)
                keep_remote = True
                return remote
            if opened.size <= IN_MEMORY:
                content = bytearray(opened.size)
                remote.readinto(content)
                cache.store_later(name, content, lock.detach(), key_index)
                return BlobIO._from_content(self._url, content, opened.etag)
            with cache.new_entry(name, opened.size) as entry:
                _copy(remote, entry, opened.size)
                mapped = entry.commit()
            if mapped is None:  # not stored: read on from storage
                remote.seek(0)
                keep_remote = True
                return remote
            if key_index is not None:
                cache.store_index(*key_index)
            return BlobIO._from_content(self._url, mapped, opened.etag)
        finally:
            if not keep_remote:
                remote.close()

    def _start_reading(self, executor: concurrent.futures.Executor) -> None:
        """Open the reader in ``executor``, unless done already; :meth:`reader` hands
        it out, errors included."""
        if self._opening is None and not self._reader_called:
            self._opening = executor.submit(self._open)

    def _release(self) -> None:
        """Close a reader opened ahead that the transform did not take."""
        opening, self._opening = self._opening, None
        if opening is not None and not opening.cancel():
            opening.add_done_callback(_close_unused)

    def _get_properties(self) -> BlobProperties:
        if self._properties is None and self._opening is not None:
            # The read under way reports the properties; wait rather than send a HEAD.
            concurrent.futures.wait([self._opening])
        if self._properties is None:
            self._properties = self._clients.client(self._url).get_properties()
        return self._properties


class _RecordingClient(BlobClient):
    """Notes the blob's properties from the response that opens a reader."""

    def __init__(
        self,
        url: BlobURL,
        pipeline: Pipeline,  # type: ignore[type-arg]
        options: ClientOptions,
        credential: UsedCredential,
        blob: Blob,
    ) -> None:
        super().__init__(url, pipeline, options, credential)
        self._blob = blob
        # The properties of the version read (a cache stores the copy under its ETag).
        self.opened: BlobProperties | None = None

    def open_range(self, start: int, end: int | None, etag: str | None) -> HttpResponse:
        response = super().open_range(start, end, etag)
        # A reader opens the blob with an unconditional GET; later reads carry the
        # ETag that GET returned.
        if etag is None:
            self.opened = properties_from_headers(response.headers)
            if self._blob._properties is None:
                self._blob._properties = self.opened
        return response


def _copy(remote: BlobIO, entry: Entry, size: int) -> None:
    """Write a large blob's content to ``entry`` a window at a time."""
    buffer = memoryview(bytearray(min(size, IN_MEMORY)))
    while size > 0:
        count = remote.readinto(buffer[: min(size, len(buffer))])
        if not count:
            break
        entry.write(buffer[:count])
        size -= count


def _close_unused(opening: concurrent.futures.Future[BlobIO]) -> None:
    if opening.exception() is None:
        opening.result().close()


class BlobSample(TypedDict):
    """A dataset's sample when no ``transform`` is given."""

    url: str
    data: bytes


def to_sample(blob: Blob) -> BlobSample:
    """The default transform: the blob's URL (without a query) and its content."""
    with blob.reader() as f:
        return {"url": blob.url, "data": f.read()}
