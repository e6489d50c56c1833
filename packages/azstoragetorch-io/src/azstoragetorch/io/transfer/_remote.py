"""The remote side shared by uploads, downloads and listings."""

from __future__ import annotations

from collections.abc import Iterator

from azstoragetorch._core._blob_client import DEFAULT_OPTIONS
from azstoragetorch._core._client_factory import ClientFactory
from azstoragetorch._core._credentials import Credential
from azstoragetorch._core._listing import PAGE_SIZE, ListedBlob, iter_level_pages, iter_pages
from azstoragetorch._core._url import BlobURL
from azstoragetorch.exceptions import (
    BlobNotFoundError,
    BlobPermissionError,
    BlobServiceError,
    FatalBlobIOWriteError,
)
from azstoragetorch.options import ClientOptions

__all__ = ["Remote", "fatal_cause", "service_reason"]


class Remote:
    """A parsed container URL and the shared, pooled clients for its blobs."""

    def __init__(
        self, url: str, credential: Credential, options: ClientOptions = DEFAULT_OPTIONS
    ) -> None:
        self.url = BlobURL.parse(url)
        self.url.require_container()
        self.factory = ClientFactory(credential, options)
        self.factory.check(self.url)

    def blob_url(self, name: str) -> BlobURL:
        return self.url.blob(name)

    def listing(self, prefix: str) -> Iterator[ListedBlob]:
        """Every blob whose name starts with ``prefix``, in name order."""
        pipeline = self.factory.pipeline(self.url)
        used = self.factory.used(self.url)
        options = self.factory.options
        for page in iter_pages(self.url, pipeline, used, prefix=prefix or None, options=options):
            yield from page

    def level(
        self, prefix: str, delimiter: str | None, page_size: int = PAGE_SIZE
    ) -> Iterator[tuple[list[ListedBlob], list[str]]]:
        """Pages of blobs and rolled-up prefixes (with a ``delimiter``) under ``prefix``."""
        pipeline = self.factory.pipeline(self.url)
        yield from iter_level_pages(
            self.url,
            pipeline,
            self.factory.used(self.url),
            prefix=prefix or None,
            delimiter=delimiter,
            options=self.factory.options,
            page_size=page_size,
        )


def fatal_cause(error: BaseException) -> BaseException | None:
    """The error to stop the run with, if ``error`` would fail every other file too.

    A refused credential or a missing container: raised as is, not wrapped in the
    ``FatalBlobIOWriteError`` of the file that met it first.
    """
    if isinstance(error, FatalBlobIOWriteError):
        error = error.underlying_exception
    if isinstance(error, BlobPermissionError):
        return error
    if isinstance(error, BlobNotFoundError) and error.error_code == "ContainerNotFound":
        return error
    return None


def service_reason(error: BaseException) -> str:
    """A one-line reason for a failed file (messages never hold secrets)."""
    cause = getattr(error, "underlying_exception", None)
    if isinstance(cause, BaseException) and not isinstance(error, BlobServiceError):
        error = cause
    return f"{type(error).__name__}: {error}"
