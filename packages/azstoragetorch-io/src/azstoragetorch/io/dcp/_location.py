"""Where a checkpoint lives: a container, a prefix, and how to reach them."""

from __future__ import annotations

import os

from azstoragetorch._core._blob_client import BlobClient
from azstoragetorch._core._client_factory import ClientFactory
from azstoragetorch._core._credentials import Credential
from azstoragetorch._core._url import BlobURL
from azstoragetorch.options import ClientOptions

__all__ = ["Located", "Location", "is_location_url"]


class Location:
    """A checkpoint's container and prefix, with one pipeline for all its blobs.

    The URL names the container and, as its path, the prefix:
    ``https://<account>.blob.core.windows.net/<container>/<prefix>``. The prefix is a
    folder: its blobs are ``<prefix>/<name>`` (or ``<name>`` with no prefix).
    """

    def __init__(self, url: str, credential: Credential, options: ClientOptions) -> None:
        parsed = BlobURL.parse(str(url))
        parsed.require_container()
        parsed.require_current("A checkpoint location")
        self._clients = ClientFactory(credential, options)
        self._clients.check(parsed)
        self._url = parsed
        self.prefix = (parsed.blob_name or "").strip("/")

    @property
    def display(self) -> str:
        """The location as a URL without its query: safe to show, log and store."""
        container_url = self._url.container_url
        return f"{container_url}/{self.prefix}" if self.prefix else container_url

    def blob_url(self, name: str) -> str:
        """The URL of ``name`` (relative to the prefix), without any query."""
        return self._url.blob(self._blob_name(name)).url

    def client(self, name: str) -> BlobClient:
        """A client for the blob ``name`` relative to the prefix."""
        return self._clients.client(self._url.blob(self._blob_name(name)))

    def _blob_name(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def __repr__(self) -> str:
        return f"Location({self.display!r})"


def is_location_url(checkpoint_id: str | os.PathLike[str]) -> bool:
    """Whether ``checkpoint_id`` is a blob service URL that names a container."""
    try:
        return BlobURL.parse(str(checkpoint_id)).container is not None
    except (TypeError, ValueError):
        return False


class Located:
    """What the storage writer and reader share: a location, shown without its SAS."""

    _location: Location
    _credential: Credential
    _options: ClientOptions

    def _locate(self, url: str | os.PathLike[str]) -> None:
        self._location = Location(str(url), self._credential, self._options)

    @property
    def checkpoint_id(self) -> str:
        """The checkpoint's location as a URL without its query (no SAS)."""
        return self._location.display

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: str | os.PathLike[str]) -> bool:
        """Whether ``checkpoint_id`` is a blob service URL that names a container."""
        return is_location_url(checkpoint_id)
