"""Uploading a file to a blob, or a directory tree to a prefix."""

from __future__ import annotations

import mimetypes
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from azstoragetorch._core._blob_client import content_md5
from azstoragetorch._core._credentials import Credential
from azstoragetorch._core._listing import ListedBlob
from azstoragetorch.exceptions import BlobServiceError, FatalBlobIOWriteError
from azstoragetorch.io._writer import BlobWriter
from azstoragetorch.io.transfer._hashing import BackgroundMD5
from azstoragetorch.io.transfer._local_files import (
    LocalFile,
    PathFilter,
    file_md5,
    scan_tree,
    snapshot,
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

__all__ = ["run_upload", "upload"]

_CHUNK = 8 * 1024 * 1024


class _FileChanged(Exception):
    def __str__(self) -> str:
        return (
            "the file changed while it was being uploaded; nothing was committed. Upload "
            "it again once it is no longer being written"
        )


def upload(
    local_path: str | os.PathLike[str],
    url: str,
    *,
    credential: Credential = None,
    options: ClientOptions | None = None,
    overwrite: Overwrite = "if-changed",
    concurrency: int = 16,
    content_type: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> TransferSummary:
    """Upload a file to a blob, or a directory tree to a prefix.

    A file goes to the blob ``url`` names; if ``url`` is a container or ends with
    ``/``, it goes there under its own name. A directory's files go below the prefix
    ``url`` names (a container URL: the container's root), each named by its path
    relative to the directory with ``/`` separators, so class folders become name
    prefixes. Symbolic links are followed.

    Files are uploaded in parallel on the shared connection pool; large ones go up
    in blocks, in parallel, as :class:`~azstoragetorch.io.BlobIO` writes them. Each
    blob appears whole or not at all, with the MD5 of its content as its
    ``Content-MD5``; a file that changes while it is read fails rather than
    uploading a torn copy.

    :param local_path: A file or a directory.
    :param url: A blob, prefix or container URL; a SAS in it is used.
    :param credential: As for ``BlobIO``; see
        :class:`~azstoragetorch.credentials.ConnectionString` for connection strings.
    :param options: Timeouts and retries of every request, and the block size,
        part size and concurrency of each large file, as a
        :class:`~azstoragetorch.options.ClientOptions`; ``None`` uses the defaults.
    :param overwrite: ``"if-changed"`` (the default) uploads a file unless a blob of
        the same size and MD5 is there already, so a run that was interrupted
        transfers, when run again, only what is missing or changed; ``"never"``
        leaves every existing blob alone; ``"always"`` replaces them.
    :param concurrency: The most files in flight at once.
    :param content_type: The blobs' content type; by default guessed from each
        file's extension with :mod:`mimetypes` (``application/octet-stream``
        when unknown).
    :param include: Glob patterns on the relative ``/``-separated path: only
        matching files are uploaded. ``*`` matches across ``/``.
    :param exclude: Glob patterns of files to leave out.
    :param dry_run: Decide what would be uploaded, and upload nothing.
    :param progress: Called as ``progress(bytes_done, bytes_total, files_done,
        files_total)`` as the transfer advances, one call at a time, from worker
        threads. Skipped files count as done.
    :returns: A :class:`TransferSummary`; files that failed are listed in it with
        their reasons, not raised.
    :raises FileNotFoundError: if ``local_path`` does not exist.
    :raises OSError: (``errno.ELOOP``) for a symbolic link loop in the tree, before
        anything is uploaded.
    :raises ValueError: for a URL that names no container, or a bad argument.
    :raises TypeError: for ``options`` that is not a ``ClientOptions``.
    :raises BlobPermissionError: if the credential may not list or write; files
        already uploaded stay, no blob is partly written.
    :raises BlobNotFoundError: if the container does not exist.
    """
    return run_upload(
        local_path,
        url,
        credential=credential,
        overwrite=overwrite,
        concurrency=concurrency,
        content_type=content_type,
        keep=PathFilter(include, exclude),
        dry_run=dry_run,
        progress=progress,
        settings=settings_with(options),
    )


def run_upload(
    local_path: str | os.PathLike[str],
    url: str,
    *,
    credential: Credential,
    overwrite: Overwrite,
    concurrency: int,
    content_type: str | None,
    keep: PathFilter,
    dry_run: bool,
    progress: ProgressCallback | None,
    settings: TransferSettings,
) -> TransferSummary:
    """:func:`upload` with the sizes of ``settings``."""
    overwrite = check_overwrite(overwrite)
    concurrency = check_concurrency(concurrency)
    remote = Remote(url, credential, settings.options)
    root = Path(os.fspath(local_path))
    if not root.exists():
        if root.is_symlink():
            root.stat()  # raises ELOOP for a link to itself, or names the broken link
        raise FileNotFoundError(f"The local path '{root}' does not exist.")
    tally = Tally()
    prefix = remote.url.blob_name or ""
    if root.is_dir():
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        files, problems = scan_tree(root, keep)
        for relative, reason in problems:
            tally.fail(str(root / relative), prefix + relative, reason)
        names = [(found, prefix + found.relative) for found in files]
    else:
        name = prefix if prefix and not prefix.endswith("/") else prefix + root.name
        names = [(LocalFile(root, root.name, root.stat().st_size), name)]
    existing: dict[str, ListedBlob] = {}
    if overwrite != "always" and names:
        # One listing tells which blobs are there: a re-run that changes nothing
        # sends list requests only.
        list_prefix = prefix if root.is_dir() else names[0][1]
        wanted = {name for _, name in names}
        existing = {blob.name: blob for blob in remote.listing(list_prefix) if blob.name in wanted}
    bytes_total = sum(found.size for found, _ in names)
    counter = ProgressCounter(progress, bytes_total, len(names))
    counter.start()
    job = _UploadJob(remote, tally, counter, overwrite, content_type, dry_run, settings)
    jobs = []
    for found, name in names:
        there = existing.get(name)
        if _settled(found, there, overwrite):
            # Decided here: a thread per unchanged file would cost more than its hash.
            tally.skip(name)
            counter.file_done(found.size)
        else:
            jobs.append(_bind(job, found, name, there))
    run_jobs(jobs, concurrency)
    return tally.summary(bytes_total, dry_run)


# Unchanged files up to this size are recognised before any job starts: for them a
# job on a thread costs more than the hash. Larger ones are hashed by their job, on
# the job's threads, once (a changed file would otherwise be read and hashed twice).
_SETTLE_AT_MOST = 64 * 1024


def _settled(found: LocalFile, there: ListedBlob | None, overwrite: Overwrite) -> bool:
    """Whether ``found`` is to be skipped, known without a request: a blob is there
    and ``overwrite`` is ``"never"``, or the small file is unchanged (see
    :func:`_unchanged`). Anything in doubt is left to the file's job."""
    if there is None or overwrite == "always":
        return False
    if overwrite == "never":
        return True
    if there.content_md5 is None or there.size != found.size or found.size > _SETTLE_AT_MOST:
        return False
    try:
        with open(found.path, "rb") as file:
            data = file.read(found.size + 1)
    except OSError:
        return False  # the job reports it
    return _unchanged(there, len(data), content_md5(data), overwrite)


def _bind(
    job: _UploadJob, found: LocalFile, name: str, there: ListedBlob | None
) -> Callable[[], None]:
    return lambda: job.run(found, name, there)


class _UploadJob:
    """Uploads one file; shared by every file of a run."""

    def __init__(
        self,
        remote: Remote,
        tally: Tally,
        counter: ProgressCounter,
        overwrite: Overwrite,
        content_type: str | None,
        dry_run: bool,
        settings: TransferSettings,
    ) -> None:
        self._remote = remote
        self._tally = tally
        self._counter = counter
        self._overwrite = overwrite
        self._content_type = content_type
        self._dry_run = dry_run
        self._settings = settings
        self._large = threading.BoundedSemaphore(settings.large_files_at_once)

    def run(self, found: LocalFile, name: str, there: ListedBlob | None) -> None:
        shown = self._remote.blob_url(name).url
        reported = [0]
        try:  # an existing blob under "never" was skipped before (_settled)
            before = os.stat(found.path)
            if before.st_size <= self._settings.whole_file_limit:
                self._whole(found.path, name, before, there, reported)
            else:
                with self._large:
                    self._streamed(found.path, name, before, there, reported)
        except Exception as error:
            fatal = fatal_cause(error)
            if fatal is not None:
                raise fatal from fatal.__cause__
            if _already_exists(error) and self._overwrite == "never":
                self._tally.skip(name)
            else:
                self._tally.fail(str(found.path), shown, _reason(error))
        finally:
            self._counter.file_done(max(0, found.size - reported[0]))

    def _report(self, reported: list[int], count: int) -> None:
        reported[0] += count
        self._counter.add_bytes(count)

    def _whole(
        self,
        path: Path,
        name: str,
        before: os.stat_result,
        there: ListedBlob | None,
        reported: list[int],
    ) -> None:
        with open(path, "rb") as file:
            data = file.read(before.st_size + 1)
            after = os.fstat(file.fileno())
        if len(data) != before.st_size or snapshot(after) != snapshot(before):
            raise _FileChanged()
        md5 = content_md5(data)
        if _unchanged(there, len(data), md5, self._overwrite):
            self._tally.skip(name)
            return
        if self._dry_run:
            self._tally.done(name, len(data))
            return
        client = self._remote.factory.client(self._remote.blob_url(name))
        # The file must still be the one read when the blob is committed: a file
        # that changed since could have been read torn.
        if snapshot(os.stat(path)) != snapshot(before):
            raise _FileChanged()
        client.put_blob(
            data, md5, create_only=self._overwrite == "never", content_type=self._type_of(name)
        )
        self._tally.done(name, len(data))
        self._report(reported, len(data))

    def _streamed(
        self,
        path: Path,
        name: str,
        before: os.stat_result,
        there: ListedBlob | None,
        reported: list[int],
    ) -> None:
        # Hash first only when the blob there could be the same file.
        same_size = there is not None and there.size == before.st_size
        if same_size and _unchanged(there, before.st_size, file_md5(path), self._overwrite):
            self._tally.skip(name)
            return
        if self._dry_run:
            self._tally.done(name, before.st_size)
            return
        writer = self._writer(name)
        digest = BackgroundMD5()
        sent = 0
        try:
            with open(path, "rb") as file:
                while chunk := file.read(_CHUNK):
                    digest.update(chunk)
                    writer.write(memoryview(chunk))
                    sent += len(chunk)
                    self._report(reported, len(chunk))
                    if sent > before.st_size:
                        break
            if sent != before.st_size or snapshot(os.stat(path)) != snapshot(before):
                raise _FileChanged()
            writer.commit(content_type=self._type_of(name), blob_md5=digest.b64digest())
        except BaseException:
            writer.abort()
            raise
        finally:
            digest.close()
        self._tally.done(name, sent)

    def _writer(self, name: str) -> BlobWriter:
        client = self._remote.factory.client(self._remote.blob_url(name))
        return BlobWriter(client, self._settings.options, create_only=self._overwrite == "never")

    def _type_of(self, name: str) -> str:
        if self._content_type is not None:
            return self._content_type
        return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def _unchanged(there: ListedBlob | None, size: int, md5: str, overwrite: Overwrite) -> bool:
    return (
        overwrite == "if-changed"
        and there is not None
        and there.size == size
        and there.content_md5 == md5
    )


def _already_exists(error: BaseException) -> bool:
    if isinstance(error, FatalBlobIOWriteError):
        error = error.underlying_exception
    return isinstance(error, BlobServiceError) and error.error_code == "BlobAlreadyExists"


def _reason(error: BaseException) -> str:
    if isinstance(error, _FileChanged):
        return str(error)
    if isinstance(error, OSError) and not isinstance(error, BlobServiceError):
        return f"cannot read the file: {error.strerror or error}"
    return service_reason(error)
