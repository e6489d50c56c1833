"""Checkpoint housekeeping: list the checkpoints under a prefix, delete one, keep the last N.

A prefix is a folder of a container, named by a URL
``https://<account>.blob.core.windows.net/<container>/<prefix>``. Under it:

* every blob directly in the folder (``<prefix>/<name>``) is a checkpoint written
  with ``torch.save`` (through :class:`~azstoragetorch.io.BlobIO`, Lightning, ...);
* every sub-folder holding a ``.metadata`` blob (``<prefix>/<name>/.metadata``) is a
  distributed checkpoint (:mod:`azstoragetorch.io.dcp`), dated by its metadata blob,
  which a save commits last.

Deleting a distributed checkpoint deletes its ``.metadata`` first: from then on it is
no longer loadable nor listed, whatever happens to the deletion of its data blobs.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import re

from azstoragetorch._core._blob_client import BlobClient
from azstoragetorch._core._client_factory import ClientFactory, options_or_default
from azstoragetorch._core._credentials import Credential
from azstoragetorch._core._listing import ListedBlob, iter_pages
from azstoragetorch._core._url import BlobURL
from azstoragetorch.exceptions import BlobNotFoundError
from azstoragetorch.options import ClientOptions

__all__ = ["CheckpointInfo", "delete_checkpoint", "list_checkpoints", "prune_checkpoints"]

_METADATA = ".metadata"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint found by :func:`list_checkpoints`.

    :param url: The checkpoint's URL without any query (never a SAS): the blob, or
        for a distributed checkpoint the folder to pass as its ``checkpoint_id``.
    :param name: Its name relative to the prefix (``"epoch=3.ckpt"``, ``"step-100"``).
    :param last_modified: When it was last written (for a distributed checkpoint, when
        its ``.metadata`` was committed), timezone-aware UTC, to the second.
    :param size: The blob's size in bytes; for a distributed checkpoint the size of
        its ``.metadata`` blob.
    :param distributed: ``True`` for a distributed checkpoint (a folder).
    """

    url: str
    name: str
    last_modified: datetime.datetime
    size: int
    distributed: bool


def list_checkpoints(
    prefix_url: str, *, credential: Credential = None, options: ClientOptions | None = None
) -> list[CheckpointInfo]:
    """List the checkpoints under a prefix, newest first.

    Checkpoints are ordered by their last-modified time; the service records it to
    the second, so checkpoints written within the same second are ordered by name,
    with numbers compared as numbers (``step-100`` after ``step-20``), highest first.

    :param prefix_url: ``https://<account>.blob.core.windows.net/<container>/<prefix>``;
        the prefix is a folder (a trailing ``/`` is optional) and may be empty to list
        the container's top level. A SAS in its query needs the *list* permission.
    :param credential: As for :class:`~azstoragetorch.io.BlobIO`.
    :param options: Timeouts and retries, as a
        :class:`~azstoragetorch.options.ClientOptions`; ``None`` uses the defaults.
    :returns: The checkpoints, newest first; empty if there are none (or no container).
    :raises ValueError: for a URL that names no container.
    :raises TypeError: for ``options`` that is not a ``ClientOptions``.
    :raises ~azstoragetorch.exceptions.BlobPermissionError: if the credential may not
        list the container (a ``PermissionError``).
    """
    folder = _Folder(prefix_url, credential, options)
    found: list[CheckpointInfo] = []
    for blob in folder.blobs(folder.prefix):
        name = blob.name[len(folder.prefix) :]
        if "/" not in name:
            found.append(folder.info(name, blob, distributed=False))
        elif name.endswith("/" + _METADATA):
            found.append(folder.info(name[: -len(_METADATA) - 1], blob, distributed=True))
    _sort_newest_first(found)
    return found


def delete_checkpoint(
    url: str | CheckpointInfo,
    *,
    credential: Credential = None,
    options: ClientOptions | None = None,
) -> bool:
    """Delete one checkpoint: a blob, or a distributed checkpoint's folder.

    The blob at ``url`` is deleted if there is one. Otherwise ``url`` is taken as a
    distributed checkpoint's folder: its ``.metadata`` blob is deleted first, so the
    checkpoint stops being loadable at once, then every other blob under the folder.

    Deleting something that does not exist is not an error.

    :param url: The checkpoint's URL, or a :class:`CheckpointInfo` from
        :func:`list_checkpoints` (use the same ``credential``). A SAS in the URL needs
        the *delete* permission, and *list* to delete a distributed checkpoint.
    :param credential: As for :class:`~azstoragetorch.io.BlobIO`.
    :param options: Timeouts and retries, as a
        :class:`~azstoragetorch.options.ClientOptions`; ``None`` uses the defaults.
    :returns: ``True`` if anything was deleted, ``False`` if nothing was there.
    :raises ValueError: for a URL that names no blob or folder in a container.
    :raises TypeError: for ``options`` that is not a ``ClientOptions``.
    :raises ~azstoragetorch.exceptions.BlobPermissionError: if the credential may not
        delete (or list); the message names the blob without any SAS.
    """
    if isinstance(url, CheckpointInfo):
        url = url.url
    folder = _Folder(url, credential, options)
    if not folder.prefix:
        raise ValueError(
            f"Refusing to delete {folder.display}: the URL names a whole container, not "
            "a checkpoint. Name the checkpoint's blob or folder."
        )
    # A URL ending in "/" names a folder only; otherwise a blob of that name first.
    if not folder.named_folder and folder.client(folder.prefix[:-1]).delete():
        return True
    return _delete_folder(folder, folder.prefix)


def prune_checkpoints(
    prefix_url: str,
    *,
    keep_last: int,
    credential: Credential = None,
    options: ClientOptions | None = None,
) -> list[CheckpointInfo]:
    """Keep the ``keep_last`` newest checkpoints under a prefix; delete the others.

    The order is :func:`list_checkpoints`'s; the oldest are deleted first.

    :param prefix_url: As for :func:`list_checkpoints`. A SAS needs the *list* and
        *delete* permissions.
    :param keep_last: How many checkpoints to keep: an integer of at least 1.
    :param credential: As for :class:`~azstoragetorch.io.BlobIO`.
    :param options: Timeouts and retries, as a
        :class:`~azstoragetorch.options.ClientOptions`; ``None`` uses the defaults.
    :returns: The checkpoints that were deleted, oldest first.
    :raises ValueError: if ``keep_last`` is less than 1.
    :raises TypeError: if ``keep_last`` is not an integer, or ``options`` not a
        ``ClientOptions``.
    :raises ~azstoragetorch.exceptions.BlobPermissionError: if the credential may not
        list or delete.
    """
    options = options_or_default(options)
    if isinstance(keep_last, bool) or not isinstance(keep_last, int):
        raise TypeError(f"keep_last must be an integer, not {type(keep_last).__name__}.")
    if keep_last < 1:
        raise ValueError(
            f"keep_last must be at least 1, not {keep_last}: pruning would delete every "
            "checkpoint. To delete them all, call delete_checkpoint() on each."
        )
    doomed = list_checkpoints(prefix_url, credential=credential, options=options)[keep_last:]
    doomed.reverse()
    for checkpoint in doomed:
        delete_checkpoint(
            _with_query(checkpoint.url, prefix_url), credential=credential, options=options
        )
    return doomed


class _Folder:
    """A container folder reached with one pipeline: what the operations share."""

    def __init__(self, url: str, credential: Credential, options: ClientOptions | None) -> None:
        options = options_or_default(options)
        parsed = BlobURL.parse(url)
        parsed.require_container()
        parsed.require_current("Checkpoint housekeeping, which works on current blobs,")
        self._clients = ClientFactory(credential, options)
        self._clients.check(parsed)
        self._url = parsed
        name = parsed.blob_name or ""
        # Folder semantics: "run1" and "run1/" both mean the blobs "run1/...".
        self.named_folder = name.endswith("/")
        self.prefix = name if not name or self.named_folder else f"{name}/"

    @property
    def display(self) -> str:
        return self._url.container_url + (f"/{self.prefix}" if self.prefix else "")

    def blobs(self, prefix: str) -> list[ListedBlob]:
        pages = iter_pages(
            self._url,
            self._clients.pipeline(self._url),
            self._clients.used(self._url),
            prefix=prefix or None,
            options=self._clients.options,
        )
        try:
            return [blob for page in pages for blob in page]
        except BlobNotFoundError as error:
            if error.error_code == "ContainerNotFound":
                return []  # nothing to list or delete, as documented
            raise

    def client(self, blob_name: str) -> BlobClient:
        return self._clients.client(self._url.blob(blob_name))

    def info(self, name: str, blob: ListedBlob, *, distributed: bool) -> CheckpointInfo:
        blob_name = f"{self.prefix}{name}"
        return CheckpointInfo(
            url=self._url.blob(blob_name).url,
            name=name,
            last_modified=_parse_time(blob.last_modified),
            size=blob.size,
            distributed=distributed,
        )


def _delete_folder(folder: _Folder, prefix: str) -> bool:
    names = [blob.name for blob in folder.blobs(prefix)]
    metadata = f"{prefix}{_METADATA}"
    deleted = False
    if metadata in names:
        # First: once the metadata is gone the checkpoint is no longer loadable, so a
        # deletion that stops half-way never leaves a checkpoint missing data.
        deleted = folder.client(metadata).delete()
        names.remove(metadata)
    for name in names:
        deleted = folder.client(name).delete() or deleted
    return deleted


def _with_query(url: str, source: str) -> str:
    """``url`` with ``source``'s query (a SAS), so deletes use the same authority."""
    _, question, query = source.partition("?")
    return f"{url}?{query}" if question and query else url


def _parse_time(text: str | None) -> datetime.datetime:
    if not text:
        return _EPOCH
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return _EPOCH


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key comparing the digit runs of ``name`` as numbers."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    )


def _sort_newest_first(found: list[CheckpointInfo]) -> None:
    # Two stable sorts: by name, then by time; both descending.
    found.sort(key=lambda info: _natural(info.name), reverse=True)
    found.sort(key=lambda info: info.last_modified, reverse=True)
