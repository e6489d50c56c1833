"""``BlobIO``: a binary file object over one blob."""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import warnings
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from typing_extensions import Buffer

from azstoragetorch._core._blob_client import BlobClient
from azstoragetorch._core._client_factory import options_or_default
from azstoragetorch._core._credentials import Credential
from azstoragetorch._core._url import BlobURL
from azstoragetorch.exceptions import FatalBlobIOWriteError
from azstoragetorch.io._reader import BlobReader
from azstoragetorch.io._writer import BlobWriter
from azstoragetorch.options import ClientOptions

__all__ = ["BlobIO"]

_MODES = ("rb", "wb")

if TYPE_CHECKING:
    # Type checkers see a BinaryIO, so BlobIO is accepted wherever IO[bytes] is
    # (torch.save, torch.load, PIL.Image.open, zipfile, ...). At run time the base is
    # io.IOBase alone: typing.BinaryIO's stub methods must never shadow real ones.
    class _BinaryFile(io.IOBase, BinaryIO):
        pass

else:
    _BinaryFile = io.IOBase


class BlobIO(_BinaryFile):
    """A file-like object that reads or writes one blob in Azure Blob Storage.

    Pass it to :func:`torch.save` or :func:`torch.load`::

        import torch
        from azstoragetorch.io import BlobIO

        model = torch.nn.Linear(4, 2)
        url = "https://<account>.blob.core.windows.net/<container>/model.pt"
        with BlobIO(url, "wb") as f:
            torch.save(model.state_dict(), f)
        with BlobIO(url, "rb") as f:
            model.load_state_dict(torch.load(f, weights_only=True))

    **Reading** (``"rb"``) reads one version of the blob: the first request records
    its ETag and every later request is conditional on it, so if the blob is replaced
    meanwhile, reads raise :class:`~azstoragetorch.exceptions.BlobModifiedError`
    rather than mixing versions. A ``snapshot`` or ``versionid`` in the URL reads that
    snapshot or version. Opening a missing blob raises
    :class:`~azstoragetorch.exceptions.BlobNotFoundError` (a ``FileNotFoundError``).

    **Writing** (``"wb"``) buffers data and uploads it in blocks while you write;
    :meth:`close` (or leaving a ``with`` block normally) commits it, and only then does
    the blob change. Leaving a ``with`` block through an exception, or letting an
    unclosed writer be garbage-collected, commits nothing and leaves any existing blob
    as it was. If an upload fails for good,
    :class:`~azstoragetorch.exceptions.FatalBlobIOWriteError` is raised and nothing
    of this object is ever committed.

    :param blob_url: The blob's URL. A SAS token, ``snapshot`` and ``versionid`` in its
        query string are honoured.
    :param mode: ``"rb"`` to read, ``"wb"`` to write.
    :param credential: ``None`` (the default) uses
        ``azure.identity.DefaultAzureCredential``; also accepted are an
        ``AzureSasCredential``, an ``AzureNamedKeyCredential`` (account key), any
        ``TokenCredential``, and ``False`` for anonymous access. Ignored when the URL
        carries a SAS token.
    :param options: Timeouts, retries and transfer sizes, as a
        :class:`~azstoragetorch.options.ClientOptions`; ``None`` uses the defaults.
    :raises ValueError: for an unsupported mode or a URL that names no blob.
    :raises TypeError: for a credential of an unsupported type.
    """

    # Class-level defaults: __del__ and close() must work even on an object whose
    # __init__ never ran (wrong arguments) or failed.
    _reader: BlobReader | None = None
    _writer: BlobWriter | None = None
    _fatal: FatalBlobIOWriteError | None = None
    _releasing = False

    def __init__(
        self,
        blob_url: str,
        mode: Literal["rb", "wb"],
        *,
        credential: Credential = None,
        options: ClientOptions | None = None,
    ) -> None:
        self._start(mode)
        options = options_or_default(options)
        url = BlobURL.parse(blob_url)
        _check_target(url, mode)
        self._open(url, mode, BlobClient.create(url, credential, options), options)

    @classmethod
    def _from_client(
        cls, client: BlobClient, mode: Literal["rb", "wb"], options: ClientOptions
    ) -> BlobIO:
        """A ``BlobIO`` on a client the caller made, typically on a pipeline it shares
        across many blobs (the datasets): the client's URL and credential are used."""
        self = cls.__new__(cls)
        self._start(mode)
        self._open(client.url, mode, client, options)
        return self

    @classmethod
    def _from_content(
        cls, url: BlobURL, content: bytes | bytearray | mmap.mmap, etag: str
    ) -> BlobIO:
        """A ``BlobIO`` in ``"rb"`` over a local copy of the blob at ``url`` (the
        datasets' cache): it reads ``content`` and sends no request."""
        self = cls.__new__(cls)
        self._start("rb")
        _check_target(url, "rb")
        self._url = url
        self._mode = "rb"
        self._reader = BlobReader.from_content(content, etag)
        return self

    def _whole_content(self) -> memoryview | None:
        """In ``"rb"``, the blob's whole content if this reader already holds all of
        it (a blob no larger than the first read): read-only, and valid until the
        ``BlobIO`` is closed. ``None`` otherwise."""
        return None if self._reader is None else self._reader.whole()

    def _start(self, mode: str) -> None:
        self._position = 0
        # Once raised, a fatal write error answers every later write, flush and
        # close, even after the object is closed (``_fatal``).
        if mode not in _MODES:
            raise ValueError(f"Unsupported mode {mode!r}: BlobIO supports 'rb' and 'wb'.")

    def _open(
        self, url: BlobURL, mode: Literal["rb", "wb"], client: BlobClient, options: ClientOptions
    ) -> None:
        _check_target(url, mode)
        self._url = url
        self._mode = mode
        if mode == "rb":
            self._reader = BlobReader(client, options)
        else:
            self._writer = BlobWriter(client, options)

    def __repr__(self) -> str:
        url = self._url.url if hasattr(self, "_url") else "?"
        state = " closed" if self.closed else ""
        return f"<BlobIO {url} mode={getattr(self, '_mode', '?')!r}{state}>"

    @property
    def name(self) -> str:
        """The blob's URL without its query string (so never a SAS token)."""
        return self._url.url

    @property
    def mode(self) -> str:
        """``"rb"`` or ``"wb"``, as opened."""
        return self._mode

    # -- capabilities -------------------------------------------------------------

    def readable(self) -> bool:
        """``True`` in read mode."""
        self._check_open()
        return self._reader is not None

    def writable(self) -> bool:
        """``True`` in write mode."""
        self._check_open()
        return self._writer is not None

    def seekable(self) -> bool:
        """``True`` in read mode: writes are sequential."""
        self._check_open()
        return self._reader is not None

    def fileno(self) -> int:
        """Always raises ``io.UnsupportedOperation``: a blob has no file descriptor."""
        raise io.UnsupportedOperation("fileno: a blob has no file descriptor")

    def truncate(self, size: int | None = None, /) -> int:
        """Always raises ``io.UnsupportedOperation``."""
        raise io.UnsupportedOperation("truncate: blobs are written whole, not resized")

    # -- position -----------------------------------------------------------------

    def tell(self) -> int:
        """The current position: in write mode, the count of bytes written."""
        self._check_open()
        return self._writer.written if self._writer is not None else self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        """Move to ``offset`` relative to ``whence``; returns the new position.

        ``whence`` is ``os.SEEK_SET`` (0, the default), ``os.SEEK_CUR`` (1) or
        ``os.SEEK_END`` (2). Seeking past the end is allowed; reads there return
        ``b""``. Only read mode can seek.
        """
        reader = self._require_reader("seek")
        offset = _as_index(offset, "offset")
        if whence == os.SEEK_SET:
            target = offset
        elif whence == os.SEEK_CUR:
            target = self._position + offset
        elif whence == os.SEEK_END:
            target = reader.size + offset
        else:
            raise ValueError(
                f"Invalid whence ({whence}): use os.SEEK_SET (0), os.SEEK_CUR (1) or "
                "os.SEEK_END (2)."
            )
        if target < 0:
            raise ValueError(f"Negative seek position {target}: positions start at 0.")
        self._position = target
        return target

    # -- reading ------------------------------------------------------------------

    def read(self, size: int | None = -1, /) -> bytes:
        """Read up to ``size`` bytes (all that remain if ``size`` is negative or None)."""
        reader = self._require_reader("read")
        remaining = max(0, reader.size - self._position)
        size = -1 if size is None else _as_index(size, "size")
        size = remaining if size < 0 else min(size, remaining)
        data = reader.read(self._position, size) if size else b""
        self._position += len(data)
        return data

    def readall(self) -> bytes:
        """Read everything from the current position to the end."""
        return self.read(-1)

    def readinto(self, buffer: Buffer, /) -> int:
        """Read into ``buffer`` (any writable bytes-like object); returns the count."""
        reader = self._require_reader("readinto")
        with memoryview(buffer) as view, view.cast("B") as destination:
            if destination.readonly:
                raise TypeError(
                    "readinto() needs a writable buffer such as a bytearray, not a "
                    f"read-only {type(buffer).__name__}"
                )
            count = reader.readinto(self._position, destination)
        self._position += count
        return count

    def readline(self, size: int | None = -1, /) -> bytes:
        """Read one line, up to and including ``b"\\n"``, at most ``size`` bytes."""
        reader = self._require_reader("readline")
        limit = -1 if size is None else max(-1, _as_index(size, "size"))
        if self._position >= reader.size or limit == 0:
            return b""
        end = reader.find_line_end(self._position, limit)
        return self.read(end - self._position)

    # -- writing ------------------------------------------------------------------

    def write(self, b: Buffer, /) -> int:
        """Write a bytes-like object; returns the number of bytes written.

        Data may be uploaded later, in the background or at :meth:`flush` or
        :meth:`close`, which report any failure as
        :class:`~azstoragetorch.exceptions.FatalBlobIOWriteError`.
        """
        writer = self._require_writer("write")
        try:
            view = memoryview(b)
        except TypeError:
            raise TypeError(f"a bytes-like object is required, not '{type(b).__name__}'") from None
        with view, view.cast("B") as data, self._remember_fatal():
            writer.write(data)
            return len(data)

    def flush(self) -> None:
        """Upload everything written so far and wait for it (no effect in read mode).

        The blob still changes only at :meth:`close`.
        """
        if self._releasing:
            return
        self._raise_fatal()
        self._check_open()
        if self._writer is not None:
            with self._remember_fatal():
                self._writer.flush()

    # -- closing ------------------------------------------------------------------

    def close(self) -> None:
        """Close; in write mode, upload what remains and commit the blob.

        Calling it again does nothing.
        """
        if self._fatal is not None:
            if not self.closed:
                self._abort()
            raise self._fatal
        if self.closed:
            return
        try:
            if self._writer is not None:
                with self._remember_fatal():
                    self._writer.commit()
        finally:
            self._release()

    def _abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
        self._release()

    def _release(self) -> None:
        if self._reader is not None:
            self._reader.close()
        # IOBase.close() flushes first; by now the writer has committed or aborted.
        self._releasing = True
        try:
            super().close()
        finally:
            self._releasing = False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        elif not self.closed:
            self._abort()

    def __del__(self) -> None:
        # An unclosed writer is never committed on garbage collection: data that the
        # program did not finish writing must not replace a good blob.
        if getattr(self, "_writer", None) is not None and not self.closed:
            warnings.warn(
                f"{self!r} was garbage-collected without close(); nothing was committed.",
                ResourceWarning,
                stacklevel=2,
            )
            self._abort()
        elif not getattr(self, "closed", True):
            self._release()

    # -- checks -------------------------------------------------------------------

    @contextlib.contextmanager
    def _remember_fatal(self) -> Iterator[None]:
        try:
            yield
        except FatalBlobIOWriteError as error:
            self._fatal = error
            raise

    def _raise_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed BlobIO.")

    def _require_reader(self, operation: str) -> BlobReader:
        self._check_open()
        if self._reader is None:
            raise io.UnsupportedOperation(f"{operation}: BlobIO is open for writing ('wb')")
        return self._reader

    def _require_writer(self, operation: str) -> BlobWriter:
        self._raise_fatal()
        self._check_open()
        if self._writer is None:
            raise io.UnsupportedOperation(f"{operation}: BlobIO is open for reading ('rb')")
        return self._writer


def _check_target(url: BlobURL, mode: str) -> None:
    url.require_blob()
    if mode == "wb" and (url.snapshot or url.version_id):
        raise ValueError(
            f"Cannot write to {url!r}: a snapshot or version is read-only. Remove "
            "'snapshot'/'versionid' from the URL to write the current blob."
        )


def _as_index(value: Any, name: str) -> int:
    try:
        return int(value.__index__())
    except AttributeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None
