"""Downloading a blob to a file, or a prefix to a directory tree."""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import contextlib
import errno
import hashlib
import itertools
import os
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from azstoragetorch._core._blob_client import BlobClient
from azstoragetorch._core._body import BODY_ERRORS, BodyReader
from azstoragetorch._core._credentials import Credential
from azstoragetorch._core._listing import ListedBlob
from azstoragetorch.exceptions import BlobNotFoundError
from azstoragetorch.io._reader import MAX_CONCURRENCY, PART_SIZE
from azstoragetorch.io.transfer._local_files import (
    PathFilter,
    file_md5,
    inside,
    local_path_for,
)
from azstoragetorch.io.transfer._parallel import run_jobs
from azstoragetorch.io.transfer._remote import Remote, fatal_cause, service_reason
from azstoragetorch.io.transfer._settings import TransferSettings, settings_with
from azstoragetorch.io.transfer._summary import (
    Overwrite,
    ProgressCallback,
    ProgressCounter,
    Tally,
    TransferSummary,
    check_concurrency,
    check_overwrite,
)
from azstoragetorch.options import ClientOptions

__all__ = ["download", "run_download"]

TEMP_SUFFIX = ".azstoragetorch-part"


class _Refused(Exception):
    """A blob that must not be written where it would go."""


def download(
    url: str,
    local_path: str | os.PathLike[str],
    *,
    credential: Credential = None,
    options: ClientOptions | None = None,
    overwrite: Overwrite = "if-changed",
    concurrency: int = 16,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> TransferSummary:
    """Download a blob to a file, or every blob under a prefix to a directory tree.

    If ``url`` names a blob that exists, that blob is downloaded to ``local_path``
    (or into it under the blob's base name, if ``local_path`` is a directory).
    Otherwise, or if ``url`` is a container or ends with ``/``, every blob below
    the prefix is downloaded into the directory ``local_path`` (created if
    missing), at its name relative to the prefix, ``/`` separating folders.

    Each file is written to a temporary name beside it and renamed into place only
    once complete and checked against the blob's ``Content-MD5`` (when it has one),
    so a failed file leaves no partial file behind. A blob name that is not a safe
    relative path (``..``, ``.``, an empty part, an absolute name) is refused and
    reported as failed; nothing is ever written outside ``local_path``.

    :param url: A blob, prefix or container URL; a SAS in it is used.
    :param local_path: The file or directory to write.
    :param credential: As for ``BlobIO``; see
        :class:`~azstoragetorch.credentials.ConnectionString` for connection strings.
    :param options: Timeouts and retries of every request, and the block size,
        part size and concurrency of each large file, as a
        :class:`~azstoragetorch.options.ClientOptions`; ``None`` uses the defaults.
    :param overwrite: ``"if-changed"`` (the default) downloads a blob unless a file
        of the same size and MD5 is there already; ``"never"`` leaves every
        existing file alone; ``"always"`` replaces them.
    :param concurrency: The most files in flight at once.
    :param include: Glob patterns on the name below the prefix: only matching
        blobs are downloaded. ``*`` matches across ``/``.
    :param exclude: Glob patterns of blobs to leave out.
    :param dry_run: Decide what would be downloaded, and write nothing.
    :param progress: Called as ``progress(bytes_done, bytes_total, files_done,
        files_total)``, one call at a time, from worker threads.
    :returns: A :class:`TransferSummary`; files that failed are listed in it with
        their reasons, not raised.
    :raises BlobNotFoundError: if no blob or prefix matches ``url``, or the container
        does not exist.
    :raises NotADirectoryError: if a prefix is to be downloaded onto an existing file.
    :raises PermissionError: if ``local_path`` cannot be written.
    :raises TypeError: for ``options`` that is not a ``ClientOptions``.
    :raises BlobPermissionError: if the credential may not list or read.
    """
    return run_download(
        url,
        local_path,
        credential=credential,
        overwrite=overwrite,
        concurrency=concurrency,
        keep=PathFilter(include, exclude),
        dry_run=dry_run,
        progress=progress,
        settings=settings_with(options),
    )


def run_download(
    url: str,
    local_path: str | os.PathLike[str],
    *,
    credential: Credential,
    overwrite: Overwrite,
    concurrency: int,
    keep: PathFilter,
    dry_run: bool,
    progress: ProgressCallback | None,
    settings: TransferSettings,
    tree: bool = True,
) -> TransferSummary:
    """:func:`download` with the sizes of ``settings``.

    Without ``tree``, only a single blob may be downloaded (the command line's
    default, without ``--recursive``).
    """
    overwrite = check_overwrite(overwrite)
    concurrency = check_concurrency(concurrency)
    remote = Remote(url, credential, settings.options)
    target = Path(os.fspath(local_path))
    tally = Tally()
    single = _single_blob(remote)
    plan: list[tuple[ListedBlob, Path | None, str]] = []
    if single is not None:
        destination = target
        if target.is_dir():
            destination = target / single.name.rsplit("/", 1)[-1]
        root = destination.parent
        plan.append((single, destination, ""))
    else:
        prefix = remote.url.blob_name or ""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        root = target
        blobs = [
            blob
            for blob in remote.listing(prefix)
            if keep.keeps(blob.name[len(prefix) :]) and not _folder_marker(blob)
        ]
        if not blobs and remote.url.blob_name and not remote.url.blob_name.endswith("/"):
            raise BlobNotFoundError(
                f"Nothing to download: no blob is named, and no blob name starts with, "
                f"'{remote.url.blob_name}' in {remote.url.container_url}.",
                status_code=404,
                error_code="BlobNotFound",
            )
        if not tree:
            raise IsADirectoryError(
                errno.EISDIR,
                f"'{remote.url.url}' names a prefix, not a blob; download it as a tree "
                "(--recursive) to get every blob under it",
            )
        if target.exists() and not target.is_dir():
            raise NotADirectoryError(
                f"Cannot download the prefix '{prefix}' onto '{target}': it is a file. "
                "Give a directory (it is created if missing)."
            )
        for blob in blobs:
            relative = blob.name[len(prefix) :]
            try:
                plan.append((blob, local_path_for(target, relative), relative))
            except ValueError as error:
                plan.append((blob, None, str(error)))
    if not dry_run:
        _prepare_root(root)
    bytes_total = sum(blob.size for blob, _, _ in plan)
    counter = ProgressCounter(progress, bytes_total, len(plan))
    counter.start()
    job = _DownloadJob(remote, root, tally, counter, overwrite, dry_run, settings)
    run_jobs([_bind(job, blob, path, note) for blob, path, note in plan], concurrency)
    return tally.summary(bytes_total, dry_run)


def _single_blob(remote: Remote) -> ListedBlob | None:
    """The blob ``remote``'s URL names, if it names one that exists."""
    name = remote.url.blob_name
    if not name or name.endswith("/"):
        return None
    # Names sort in order, so the blob itself, if it exists, is the first listed.
    for blobs, _ in remote.level(name, None, page_size=1):
        return blobs[0] if blobs and blobs[0].name == name else None
    return None


def _folder_marker(blob: ListedBlob) -> bool:
    # Tools that mimic folders leave empty blobs named "folder/".
    return blob.name.endswith("/") and blob.size == 0


def _prepare_root(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"Cannot write into '{root}': it is not a directory.") from None
    except PermissionError:
        raise PermissionError(
            f"No permission to create the directory '{root}'; choose a writable location."
        ) from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise PermissionError(
            f"No permission to write in '{root}'; choose a writable location or change "
            "its permissions."
        )


def _bind(job: _DownloadJob, blob: ListedBlob, path: Path | None, note: str) -> Callable[[], None]:
    return lambda: job.run(blob, path, note)


class _DownloadJob:
    """Downloads one blob; shared by every blob of a run."""

    def __init__(
        self,
        remote: Remote,
        root: Path,
        tally: Tally,
        counter: ProgressCounter,
        overwrite: Overwrite,
        dry_run: bool,
        settings: TransferSettings,
    ) -> None:
        self._remote = remote
        self._root = root
        self._tally = tally
        self._counter = counter
        self._overwrite = overwrite
        self._dry_run = dry_run
        self._settings = settings
        self._large = threading.BoundedSemaphore(settings.large_files_at_once)
        self._lock = threading.Lock()
        self._checked: set[Path] = set()

    def run(self, blob: ListedBlob, destination: Path | None, note: str) -> None:
        shown = self._remote.blob_url(blob.name).url
        reported = [0]
        try:
            if destination is None:
                raise _Refused(note)
            if self._keep_existing(blob, destination):
                self._tally.skip(str(destination))
                return
            if self._dry_run:
                self._tally.done(str(destination), blob.size)
                return
            if blob.size > self._settings.whole_file_limit:
                with self._large:
                    self._fetch(blob, destination, reported)
            else:
                self._fetch(blob, destination, reported)
            self._tally.done(str(destination), blob.size)
        except Exception as error:
            fatal = fatal_cause(error)
            if fatal is not None:
                raise fatal from fatal.__cause__
            self._tally.fail(shown, str(destination or note), _reason(error))
        finally:
            self._counter.file_done(max(0, blob.size - reported[0]))

    def _keep_existing(self, blob: ListedBlob, destination: Path) -> bool:
        if not os.path.lexists(destination):
            return False
        if destination.is_dir():
            raise _Refused(f"a directory is in the way at '{destination}'")
        if self._overwrite == "never":
            return True
        if self._overwrite == "always":
            return False
        return (
            blob.content_md5 is not None
            and destination.stat().st_size == blob.size
            and file_md5(destination) == blob.content_md5
        )

    def _fetch(self, blob: ListedBlob, destination: Path, reported: list[int]) -> None:
        parent = destination.parent
        self._check_parent(parent)
        temp = parent / f".{destination.name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}"
        client = self._remote.factory.client(self._remote.blob_url(blob.name))
        try:
            with open(temp, "xb") as file:
                if blob.size <= self._settings.whole_file_limit:
                    received = self._receive_whole(client, blob, file)
                else:
                    received = self._receive_in_ranges(client, blob, file, reported)
            if blob.content_md5 is not None and received != blob.content_md5:
                raise _Refused(
                    f"the data received has MD5 {received}, not the blob's Content-MD5 "
                    f"{blob.content_md5}; nothing was written. Try again"
                )
            os.replace(temp, destination)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        if blob.size <= self._settings.whole_file_limit:
            reported[0] += blob.size
            self._counter.add_bytes(blob.size)

    def _check_parent(self, parent: Path) -> None:
        """Create ``parent`` and check it leads nowhere outside the root, once per folder."""
        with self._lock:
            if parent in self._checked:
                return
        parent.mkdir(parents=True, exist_ok=True)
        if not inside(self._root, parent):
            raise _Refused(f"'{parent}' leads outside the target directory through a symbolic link")
        with self._lock:
            self._checked.add(parent)

    def _receive_whole(self, client: BlobClient, blob: ListedBlob, file: BinaryIO) -> str:
        """One GET of the version listed; returns the MD5 of what was received."""
        data = bytearray(blob.size)
        if blob.size:
            # If-Match: a blob replaced since the listing is refused, not mixed in.
            response = client.open_range(0, None, blob.etag)
            body = BodyReader(response)
            try:
                count = body.readinto(memoryview(data))
            except BODY_ERRORS:
                body.discard()
                client.read_into(0, memoryview(data), blob.etag)
            else:
                body.release()
                if count != blob.size:
                    raise _Refused("the blob changed after it was listed; download it again")
        file.write(data)
        return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")

    def _receive_in_ranges(
        self, client: BlobClient, blob: ListedBlob, file: BinaryIO, reported: list[int]
    ) -> str:
        """Parallel ranged GETs of the version listed, each written at its offset as it
        arrives; the MD5 is taken in order, overlapping the ranges still coming.
        Returns the MD5 of what was received."""
        options = self._settings.options
        part = options.part_size or PART_SIZE
        concurrency = options.max_concurrency or MAX_CONCURRENCY
        starts = range(0, blob.size, part)
        in_flight = concurrency + 2  # parts held at once: bounds memory
        descriptor = file.fileno()
        os.ftruncate(descriptor, blob.size)
        digest = hashlib.md5()

        # Buffers are reused from part to part: fresh ones would be zeroed and
        # faulted in for every part.
        free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(min(in_flight, len(starts))):
            free.put(bytearray(min(part, blob.size)))

        def fetch(start: int) -> memoryview:
            view = memoryview(free.get())[: min(part, blob.size - start)]
            # If-Match: a blob replaced since the listing is refused, not mixed in.
            client.read_into(start, view, blob.etag)
            os.pwrite(descriptor, view, start)
            return view

        with concurrent.futures.ThreadPoolExecutor(concurrency, "azstoragetorch-read") as pool:
            futures: collections.deque[concurrent.futures.Future[memoryview]] = collections.deque()
            pending = iter(starts)
            try:
                for start in itertools.islice(pending, in_flight):
                    futures.append(pool.submit(fetch, start))
                while futures:
                    view = futures.popleft().result()
                    digest.update(view)
                    count = len(view)
                    free.put(view.obj)  # type: ignore[arg-type]
                    view.release()
                    reported[0] += count
                    self._counter.add_bytes(count)
                    for start in itertools.islice(pending, 1):
                        futures.append(pool.submit(fetch, start))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return base64.b64encode(digest.digest()).decode("ascii")


def _reason(error: BaseException) -> str:
    if isinstance(error, _Refused):
        return f"refused: {error}"
    if isinstance(error, OSError) and not hasattr(error, "status_code"):
        where = f" '{error.filename}'" if error.filename else ""
        return f"cannot write{where}: {error.strerror or error}"
    return service_reason(error)
