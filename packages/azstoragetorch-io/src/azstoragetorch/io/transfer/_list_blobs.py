"""Listing blobs and virtual folders under a URL."""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
from collections.abc import Iterator

from azstoragetorch._core._client_factory import options_or_default
from azstoragetorch._core._credentials import Credential
from azstoragetorch.io.transfer._remote import Remote
from azstoragetorch.options import ClientOptions

__all__ = ["BlobEntry", "list_blobs"]


@dataclasses.dataclass(frozen=True)
class BlobEntry:
    """A blob, or a virtual folder, as a listing shows it.

    :ivar name: The blob's full name; for a folder, the common prefix ending with
        the delimiter (``"cats/"``).
    :ivar is_folder: ``True`` for a virtual folder (a prefix shared by blobs);
        its other fields are then ``0`` or ``None``.
    :ivar size: The blob's size in bytes.
    :ivar etag: The blob's ETag, with its quotes, as a read reports it.
    :ivar last_modified: When the blob last changed (aware, UTC).
    :ivar content_type: The blob's content type, if it has one.
    :ivar content_md5: The base64 MD5 of its content, if it has one.
    """

    name: str
    is_folder: bool = False
    size: int = 0
    etag: str | None = None
    last_modified: datetime.datetime | None = None
    content_type: str | None = None
    content_md5: str | None = None


def list_blobs(
    url: str,
    *,
    delimiter: str | None = None,
    credential: Credential = None,
    options: ClientOptions | None = None,
) -> Iterator[BlobEntry]:
    """Yield the blobs whose names start with the prefix ``url`` names, by name.

    With ``delimiter="/"``, only one level is listed: blobs directly below the
    prefix, and each sub-folder once, as a :class:`BlobEntry` with
    ``is_folder=True``, which is how to find the classes of a dataset. Without a
    delimiter, every blob below the prefix is listed. The prefix is taken as
    written: end it with ``/`` to list a folder's content rather than the folder.

    Example::

        from azstoragetorch.io import transfer

        url = "https://<account>.blob.core.windows.net/<container>/"
        classes = [e.name for e in transfer.list(url, delimiter="/") if e.is_folder]

    Requests are sent as the iterator advances, up to 5,000 names each.

    :param url: A container URL, or a container URL followed by a prefix.
    :param credential: As for ``BlobIO``.
    :param options: Timeouts and retries of the listing requests, as a
        :class:`~azstoragetorch.options.ClientOptions`; ``None`` uses the defaults.
    :raises TypeError: for ``options`` that is not a ``ClientOptions``, at once
        (not when the iterator first advances).
    :raises BlobNotFoundError: if the container does not exist.
    :raises BlobPermissionError: if the credential may not list the container.
    """
    return _entries(url, delimiter, credential, options_or_default(options))


def _entries(
    url: str, delimiter: str | None, credential: Credential, options: ClientOptions
) -> Iterator[BlobEntry]:
    remote = Remote(url, credential, options)
    prefix = remote.url.blob_name or ""
    for blobs, prefixes in remote.level(prefix, delimiter):
        entries = [
            BlobEntry(
                name=blob.name,
                size=blob.size,
                etag=blob.etag,
                last_modified=_parse_time(blob.last_modified),
                content_type=blob.content_type,
                content_md5=blob.content_md5,
            )
            for blob in blobs
        ]
        entries += [BlobEntry(name=folder, is_folder=True) for folder in prefixes]
        entries.sort(key=lambda entry: entry.name)
        yield from entries


def _parse_time(text: str | None) -> datetime.datetime | None:
    return email.utils.parsedate_to_datetime(text) if text else None
