"""``Blob``: one blob of a dataset, as a transform sees it."""

from __future__ import annotations

import concurrent.futures
import datetime
import email.utils
from typing import Any, TypedDict

from azure.core.pipeline import Pipeline
from azure.core.pipeline.transport import HttpResponse

from azstoragetorch._core._blob_client import (
    BlobClient,
    BlobProperties,
    properties_from_headers,
)
from azstoragetorch._core._credentials import UsedCredential
from azstoragetorch._core._url import BlobURL
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

    __slots__ = ("_clients", "_opening", "_properties", "_reader_called", "_url")

    def __init__(
        self, url: BlobURL, clients: ClientFactory, properties: BlobProperties | None = None
    ) -> None:
        self._url = url
        self._clients = clients
        self._properties = properties
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

    def reader(self) -> BlobIO:
        """A file object reading the blob (a :class:`~azstoragetorch.io.BlobIO` in ``"rb"``).

        Use it in a ``with`` block. It reads one version of the blob and shares
        the dataset's connections. Each call returns a new reader.

        :raises BlobNotFoundError: if the blob no longer exists.
        """
        self._reader_called = True
        opening = self._opening
        if opening is not None:
            self._opening = None
            return opening.result()
        return self._open()

    def __repr__(self) -> str:
        return f"Blob({self.url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Blob, (self._url, self._clients, self._properties))

    # -- for the datasets ---------------------------------------------------------

    def _open(self) -> BlobIO:
        client = _RecordingClient(
            self._url,
            self._clients.pipeline(self._url),
            self._clients.options,
            self._clients.used(self._url),
            self,
        )
        return BlobIO._from_client(client, "rb", self._clients.options)

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

    def open_range(self, start: int, end: int | None, etag: str | None) -> HttpResponse:
        response = super().open_range(start, end, etag)
        # A reader opens the blob with an unconditional GET; later reads carry the
        # ETag that GET returned.
        if etag is None and self._blob._properties is None:
            self._blob._properties = properties_from_headers(response.headers)
        return response


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
