"""The few filesystem queries Lightning's ``ModelCheckpoint`` makes, answered for blobs.

``ModelCheckpoint`` reaches its ``dirpath`` through an fsspec filesystem that it picks
from the URL's scheme; for ``https://`` that is fsspec's HTTP filesystem, which can
neither authenticate to Blob Storage nor list a container. This filesystem answers
``exists``, ``isdir``, ``ls``, ``info``, ``modified`` and ``rm`` with the library's
own requests, credential and error translation. Opening files is not offered:
checkpoints go through :class:`BlobCheckpointIO`.
"""

from __future__ import annotations

import datetime
from typing import Any

from fsspec import AbstractFileSystem

from azstoragetorch._core._client_factory import ClientFactory
from azstoragetorch._core._credentials import Credential
from azstoragetorch._core._listing import iter_pages
from azstoragetorch._core._url import BlobURL
from azstoragetorch.exceptions import BlobNotFoundError
from azstoragetorch.io._housekeeping import delete_checkpoint
from azstoragetorch.options import ClientOptions

__all__ = ["BlobFileSystem"]


class BlobFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """Blob URLs as paths: blobs are files, name prefixes ending in ``/`` directories."""

    cachable = False  # one per ModelCheckpoint, holding its credential

    def __init__(self, credential: Credential, options: ClientOptions) -> None:
        super().__init__()
        self._credential = credential
        self._clients = ClientFactory(credential, options)

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        # Paths are whole URLs: keep the scheme, drop a trailing "/".
        return str(path).rstrip("/")

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        url = BlobURL.parse(self._strip_protocol(path))
        url.require_container()
        if url.blob_name:
            try:
                properties = self._clients.client(url).get_properties()
            except BlobNotFoundError:
                pass
            else:
                return {
                    "name": url.url,
                    "size": properties.size,
                    "type": "file",
                    "last_modified": properties.last_modified,
                }
        for _entry in self._list(url, limit=1):
            return {"name": url.url, "size": 0, "type": "directory"}
        raise FileNotFoundError(f"No blob or folder at {url.url}")

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        url = BlobURL.parse(self._strip_protocol(path))
        url.require_container()
        entries: dict[str, dict[str, Any]] = {}
        for name, size, last_modified in self._list(url):
            child, slash, _ = name.partition("/")
            child_url = f"{url.url}/{child}" if url.blob_name else f"{url.container_url}/{child}"
            if slash:
                entries.setdefault(child_url, {"name": child_url, "size": 0, "type": "directory"})
            else:
                entries[child_url] = {
                    "name": child_url,
                    "size": size,
                    "type": "file",
                    "last_modified": last_modified,
                }
        if not entries:
            self.info(path)  # a file lists as itself; nothing at all is FileNotFoundError
            return [self.info(path)] if detail else [url.url]
        listed = sorted(entries.values(), key=lambda entry: str(entry["name"]))
        return listed if detail else [entry["name"] for entry in listed]

    def modified(self, path: Any) -> datetime.datetime:
        text = self.info(path).get("last_modified")
        if not text:
            raise IsADirectoryError(f"{self._strip_protocol(path)} is a folder, not a blob")
        import email.utils

        return email.utils.parsedate_to_datetime(str(text))

    def rm_file(self, path: Any) -> None:
        delete_checkpoint(
            self._strip_protocol(path), credential=self._credential, options=self._clients.options
        )

    def _rm(self, path: Any) -> None:
        self.rm_file(path)

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        pass  # folders are name prefixes: nothing to create

    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        pass

    def _open(self, path: Any, mode: str = "rb", **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"Opening {self._strip_protocol(path)} through fsspec is not supported: "
            "checkpoints are saved and loaded by BlobCheckpointIO."
        )

    def _list(self, url: BlobURL, limit: int | None = None) -> list[tuple[str, int, str | None]]:
        """(name relative to ``url``, size, last modified) of the blobs under it."""
        prefix = f"{url.blob_name}/" if url.blob_name else ""
        found: list[tuple[str, int, str | None]] = []
        pages = iter_pages(
            url,
            self._clients.pipeline(url),
            self._clients.used(url),
            prefix=prefix or None,
            options=self._clients.options,
            page_size=limit or 5000,
        )
        try:
            for page in pages:
                for blob in page:
                    found.append((blob.name[len(prefix) :], blob.size, blob.last_modified))
                if limit is not None and len(found) >= limit:
                    break
        except BlobNotFoundError as error:
            if error.error_code != "ContainerNotFound":
                raise
        return found
