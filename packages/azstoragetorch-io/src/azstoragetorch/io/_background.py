"""Saving a state dict to a blob in the background, so a training loop does not wait.

:meth:`BackgroundSaver.save` copies the state dict's tensors to host memory on the
caller's thread (the one extra copy), then serialises and uploads the copy through a
:class:`~azstoragetorch.io.BlobIO` on a worker thread. The blob changes only when that
upload commits, so a failed or cancelled save leaves the previous blob as it was.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import IO, Any, Literal, cast

from typing_extensions import Buffer

from azstoragetorch._core._client_factory import options_or_default
from azstoragetorch._core._credentials import Credential
from azstoragetorch._core._url import BlobURL
from azstoragetorch.io._blob_io import BlobIO
from azstoragetorch.options import ClientOptions

__all__ = ["BackgroundSaver", "SaveHandle"]

_log = logging.getLogger(__name__)

_WHEN_BUSY = ("wait", "fail")


class SaveHandle:
    """The pending result of one :meth:`BackgroundSaver.save`, like a ``Future``.

    :attr url: The blob's URL, without any query (never a SAS).
    """

    def __init__(self, url: str, future: concurrent.futures.Future[None]) -> None:
        self.url = url
        self._future = future
        self._cancel = threading.Event()

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<SaveHandle {self.url} {state}>"

    def done(self) -> bool:
        """``True`` once the save has committed, failed or been cancelled."""
        return self._future.done()

    def result(self, timeout: float | None = None) -> None:
        """Wait for the save; return once the blob is committed, or raise its failure.

        :param timeout: Seconds to wait; ``None`` waits as long as it takes.
        :raises TimeoutError: if the save is still running after ``timeout``.
        :raises concurrent.futures.CancelledError: if the save was cancelled.
        :raises Exception: whatever made the save fail, such as
            :class:`~azstoragetorch.exceptions.FatalBlobIOWriteError`.
        """
        self._future.result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for the save; return its failure, or ``None`` if it committed."""
        return self._future.exception(timeout)

    def cancel(self) -> bool:
        """Stop the save without committing anything, and wait until it has stopped.

        A running save stops at its next write or just before its commit; the blob
        keeps its previous content.

        :returns: ``True`` if the save was stopped (:meth:`result` then raises
            ``CancelledError``); ``False`` if it had committed or failed already.
        """
        if self._future.cancel():
            return True
        self._cancel.set()
        try:
            self._future.result()
        except concurrent.futures.CancelledError:
            return True
        except Exception:
            return False
        return False

    def add_done_callback(self, callback: Callable[[SaveHandle], object]) -> None:
        """Call ``callback(handle)`` when the save finishes (at once if it has)."""
        self._future.add_done_callback(lambda _: callback(self))


class BackgroundSaver:
    """Saves state dicts to blobs on a background thread.

    ::

        import torch
        from azstoragetorch.io import BackgroundSaver

        model = torch.nn.Linear(4, 2)
        with BackgroundSaver() as saver:
            for step in range(1, 301):
                model.weight.data.add_(0.01)  # stands for a training step
                if step % 100 == 0:
                    url = f"https://<account>.blob.core.windows.net/<container>/run/step-{step}.pt"
                    saver.save(model.state_dict(), url)
        # Leaving the block waits for the last save and raises its failure, if any.

    :meth:`save` returns once the tensors are copied to host memory; the upload runs
    meanwhile. At most ``max_in_flight`` saves run at once: a further :meth:`save`
    waits for the oldest to finish (``when_busy="wait"``, the default) or raises
    ``RuntimeError`` at once (``when_busy="fail"``). Memory: each save in flight holds
    one copy of its state dict's tensors, plus :class:`BlobIO`'s upload buffers. When a
    save is done, its copy is kept for the next save to copy into, instead of new
    memory each time: a steady run of saves holds one copy of the state dict between
    saves. :meth:`close` lets it go.

    A process that exits normally waits for the saves in flight to commit. A process
    that is killed, or a save that fails or is cancelled, commits nothing: the blob
    keeps its previous content.

    :param max_in_flight: How many saves may run at once (at least 1).
    :param when_busy: ``"wait"`` or ``"fail"``, when ``max_in_flight`` saves run.
    :param credential: As for :class:`~azstoragetorch.io.BlobIO`, used for every save.
    :param options: Timeouts, retries and transfer sizes for every save, as a
        :class:`~azstoragetorch.options.ClientOptions`; ``None`` uses the defaults.
    :raises TypeError: for ``options`` that is not a ``ClientOptions``.
    :raises ValueError: for ``max_in_flight`` below 1 or another ``when_busy``.
    """

    def __init__(
        self,
        *,
        max_in_flight: int = 1,
        when_busy: Literal["wait", "fail"] = "wait",
        credential: Credential = None,
        options: ClientOptions | None = None,
    ) -> None:
        self._options = options_or_default(options)
        if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int):
            raise TypeError(
                f"max_in_flight must be an integer, not {type(max_in_flight).__name__}."
            )
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}.")
        if when_busy not in _WHEN_BUSY:
            raise ValueError(f"when_busy must be 'wait' or 'fail', not {when_busy!r}.")
        self._credential = credential
        self._when_busy = when_busy
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_in_flight, thread_name_prefix="azstoragetorch-save"
        )
        self._handles: list[SaveHandle] = []
        self._closed = False
        # The CPU tensors of the last finished save's snapshot, for the next one to
        # copy into; taken by a save and given back when its upload is over.
        self._spare = _Buffers()
        _wait_at_exit(self)

    def __repr__(self) -> str:
        return f"<BackgroundSaver in_flight={sum(not h.done() for h in self._handles)}>"

    def save(self, state_dict: Mapping[str, Any], blob_url: str) -> SaveHandle:
        """Snapshot ``state_dict`` to host memory and upload it to ``blob_url`` in the background.

        The blob is written as by ``torch.save(state_dict, BlobIO(blob_url, "wb"))``
        and loads with ``torch.load``.

        :param state_dict: A mapping such as ``model.state_dict()`` or
            ``{"model": model.state_dict(), "optimizer": optimizer.state_dict(), ...}``;
            its tensors (on any device) are copied to CPU memory before this returns.
        :param blob_url: The blob to write; as for :class:`~azstoragetorch.io.BlobIO`.
        :returns: A handle to wait for the save or get its failure.
        :raises TypeError: if ``state_dict`` is not a mapping (pass
            ``model.state_dict()``, not the model).
        :raises ValueError: for a URL :class:`BlobIO` cannot write, or a closed saver.
        :raises RuntimeError: with ``when_busy="fail"``, if ``max_in_flight`` saves run.
        """
        if self._closed:
            raise ValueError("This BackgroundSaver is closed: create a new one to save.")
        _check_state_dict(state_dict)
        url = BlobURL.parse(blob_url)
        url.require_blob()
        if url.snapshot or url.version_id:
            raise ValueError(
                f"Cannot write to {url!r}: a snapshot or version is read-only. Remove "
                "'snapshot'/'versionid' from the URL to write the current blob."
            )
        if self._when_busy == "fail":
            if not self._slots.acquire(blocking=False):
                raise RuntimeError(
                    f"Cannot start saving to {url.url}: the previous save is still "
                    "running (when_busy='fail'). Wait for its handle, or create the "
                    "BackgroundSaver with when_busy='wait' or a larger max_in_flight."
                )
        else:
            self._slots.acquire()
        try:
            buffers = self._spare.take()
            snapshot = _snapshot(state_dict, buffers)
            future: concurrent.futures.Future[None] = concurrent.futures.Future()
            handle = SaveHandle(url.url, future)
            self._executor.submit(self._run, handle, future, snapshot, buffers, blob_url)
        except BaseException:
            self._slots.release()
            raise
        self._handles = [h for h in self._handles if not h.done()] + [handle]
        return handle

    def wait(self) -> None:
        """Wait for every save in flight; raise the first failure among them."""
        handles, self._handles = self._handles, []
        first: BaseException | None = None
        for handle in handles:
            try:
                handle.result()
            except concurrent.futures.CancelledError:
                pass
            except Exception as error:
                first = first or error
        if first is not None:
            raise first

    def close(self) -> None:
        """Wait for the saves in flight, stop the worker threads, raise any failure."""
        if self._closed:
            return
        self._closed = True
        try:
            self.wait()
        finally:
            self._executor.shutdown(wait=True)
            self._spare.take()  # nothing to save any more: free the kept copy

    def __enter__(self) -> BackgroundSaver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(
        self,
        handle: SaveHandle,
        future: concurrent.futures.Future[None],
        snapshot: Any,
        buffers: _Buffers,
        blob_url: str,
    ) -> None:
        import torch

        try:
            if not future.set_running_or_notify_cancel():
                return
            try:
                with BlobIO(
                    blob_url, "wb", credential=self._credential, options=self._options
                ) as blob:
                    torch.save(snapshot, cast(IO[bytes], _Cancellable(blob, handle._cancel)))
                    if handle._cancel.is_set():
                        raise _Cancelled  # the last chance before the commit
            except _Cancelled:
                # A running future cannot be cancelled through its API; its result
                # raises CancelledError all the same.
                future.set_exception(concurrent.futures.CancelledError())
            except BaseException as error:
                future.set_exception(error)
            else:
                future.set_result(None)
        finally:
            del snapshot
            if not self._closed:
                self._spare.keep(buffers)  # nothing reads them any more
            self._slots.release()


def _wait_at_exit(saver: BackgroundSaver) -> None:
    """Make a normal interpreter exit wait for ``saver``'s saves in flight.

    The wait must come before ``concurrent.futures`` stops accepting work at exit,
    because a save's upload (BlobIO's writer) still submits blocks then. Hooks
    registered with ``threading._register_atexit`` run last-registered first, before
    the interpreter joins its threads; ``concurrent.futures`` registers its own at
    import, so ours, registered later, runs before it. (``atexit`` hooks run too late.)
    """
    reference = weakref.ref(saver)

    def wait() -> None:
        live = reference()
        if live is None:
            return
        for handle in list(live._handles):
            error = handle._future.exception() if not handle._future.cancelled() else None
            if error is not None and not isinstance(error, concurrent.futures.CancelledError):
                _log.error("A background save to %s failed at exit: %s", handle.url, error)

    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        with contextlib.suppress(RuntimeError):  # already shutting down
            register(wait)


class _Cancelled(Exception):
    pass


class _Cancellable:
    """Passes writes to ``blob`` until the save is cancelled, then raises."""

    def __init__(self, blob: BlobIO, cancel: threading.Event) -> None:
        self._blob = blob
        self._cancel = cancel

    def write(self, data: Buffer) -> int:
        if self._cancel.is_set():
            raise _Cancelled
        return self._blob.write(data)

    def flush(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled
        self._blob.flush()


def _check_state_dict(state_dict: object) -> None:
    if isinstance(state_dict, Mapping):
        return
    kind = type(state_dict).__name__
    hint = ""
    if hasattr(state_dict, "state_dict"):
        hint = f" Pass its state dict instead: saver.save({kind.lower()}.state_dict(), url)."
    raise TypeError(
        f"A background save takes a state dict (a mapping of names to tensors and "
        f"values), not a {kind}.{hint}"
    )


class _Buffers:
    """CPU tensors a snapshot copies into, by dtype and shape, and those it made.

    Copying into memory already mapped is several times faster than into new memory,
    whose every page faults on first touch (``tools/bench/background.py`` prints
    both). A tensor is reused only for a contiguous tensor of the same dtype and
    shape, so the copy is the same as a new one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[tuple[Any, tuple[int, ...]], list[Any]] = {}
        self._made: dict[tuple[Any, tuple[int, ...]], list[Any]] = {}

    def take(self) -> _Buffers:
        """This set's tensors, moved to a new set; this one is left empty."""
        taken = _Buffers()
        with self._lock:
            taken._free, self._free = self._free, {}
        return taken

    def keep(self, other: _Buffers) -> None:
        """Replace this set's tensors by ``other``'s (only the latest set is kept)."""
        with self._lock:
            self._free = other._free
        other._free = {}

    def copy(self, tensor: Any) -> Any:
        """A CPU copy of ``tensor``, into a kept tensor when one fits; the copy is
        noted, to be kept for later snapshots."""
        source = tensor.detach()
        key = (source.dtype, tuple(source.shape))
        spare = self._free.get(key) if source.is_contiguous() else None
        copied = spare.pop().copy_(source) if spare else source.to("cpu", copy=True)
        self._made.setdefault(key, []).append(copied)
        return copied

    def start(self) -> None:
        """Begin a snapshot: the tensors it copies into become this set's afterwards."""
        self._made = {}

    def finish(self) -> None:
        self._free, self._made = self._made, {}


def _snapshot(state_dict: Mapping[str, Any], buffers: _Buffers) -> Any:
    """A copy of ``state_dict`` whose tensors are on the CPU and owned by the copy.

    Each tensor is copied once (a tensor that appears twice stays one object), so the
    snapshot costs one copy of the tensors' bytes, copied into ``buffers`` where they
    fit; afterwards ``buffers`` holds exactly the snapshot's tensors. Containers are
    rebuilt; other values are deep-copied, being small.
    """
    buffers.start()
    try:
        return _copy(state_dict, buffers, {})
    finally:
        buffers.finish()


def _copy(value: Any, buffers: _Buffers, memo: dict[int, Any]) -> Any:
    import torch

    key = id(value)
    if key in memo:
        return memo[key]
    copied: Any
    if isinstance(value, torch.Tensor):
        copied = buffers.copy(value)
    elif isinstance(value, Mapping):
        items = [(k, _copy(v, buffers, memo)) for k, v in value.items()]
        try:
            copied = cast(Any, type(value))(items)
        except TypeError:
            copied = dict(items)
    elif isinstance(value, list):
        copied = [_copy(v, buffers, memo) for v in value]
    elif isinstance(value, tuple):
        items = [_copy(v, buffers, memo) for v in value]
        copied = type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    else:
        copied = copy.deepcopy(value)
    memo[key] = copied
    return copied
