"""Writing fetched bytes straight into the memory that will hold them.

Three techniques reach below what Python promises, each to avoid a copy or a page
fault on the read path. Each has a fast path that relies on how CPython (and
``ctypes``) lay out memory, and a fallback that is plain Python:

* :func:`fill_new_bytes` writes into a new ``bytes`` object through ``ctypes``.
  Relies on: CPython stores a ``bytes`` object's payload inline, at
  ``bytes.__basicsize__ - 1`` from its address, and a bytes object nobody else has
  seen may be written before it is shared. Fallback (other interpreters, and sizes
  0 and 1, which CPython shares as singletons): fill a ``bytearray`` and copy it.
* :func:`prefault` asks Linux to map a buffer's pages in one ``madvise`` call.
  Relies on: CPython releasing the buffer export ``ctypes`` takes to learn the
  address, by reference counting, before the view is released; Linux 5.14+ for
  ``MADV_POPULATE_WRITE``. Fallback (elsewhere, or a view ``ctypes`` cannot
  address): do nothing; pages fault in one by one as they are written.
* :func:`tensor_memory` exposes a CPU tensor's storage as a writable
  ``memoryview`` through ``ctypes`` (torch does not export the buffer protocol and
  numpy is optional). Relies on: ``Tensor.data_ptr()`` staying valid while the
  tensor lives; the ``ctypes`` array holds the tensor, and every view of it holds
  the array. Fallback (an empty tensor, whose pointer may be null): an empty view.

None of them changes what a caller sees: the same bytes, only fewer copies.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is needed only by the caller of tensor_memory
    import torch

__all__ = ["FILL_IN_PLACE", "fill_new_bytes", "prefault", "tensor_memory"]

# CPython lets a fresh, unshared bytes object be filled in place (see fill_new_bytes).
FILL_IN_PLACE = sys.implementation.name == "cpython"


def fill_new_bytes(size: int, fill: Callable[[memoryview], object]) -> bytes:
    """A new ``bytes`` of ``size`` whose content ``fill`` writes into the given view.

    ``read()`` must return ``bytes``; filling a bytearray and converting it would
    hold the data twice at peak.
    """
    if not FILL_IN_PLACE or size < 2:  # bytes of length 0 and 1 are shared singletons
        buffer = bytearray(size)
        fill(memoryview(buffer))
        return bytes(buffer)
    data = bytes(size)  # calloc'd: pages cost memory only when written
    offset = bytes.__basicsize__ - 1  # where CPython stores the bytes' payload
    array = (ctypes.c_char * size).from_address(id(data) + offset)
    with memoryview(array) as raw, raw.cast("B") as view:
        fill(view)
    return data


def _linux_madvise() -> Callable[[int, int, int], int] | None:
    if not sys.platform.startswith("linux") or sys.implementation.name != "cpython":
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


_MADVISE = _linux_madvise()
_MADV_POPULATE_WRITE = 23  # Linux 5.14 and later; older kernels refuse it (EINVAL)


def prefault(view: memoryview) -> None:
    """Map the memory under ``view`` for writing now, in one system call.

    Fresh memory (a new ``bytes``, a new tensor's storage) is mapped page by page as
    it is first written, one page fault per 4 KiB: about half of the client's CPU
    time in a large read on Linux. ``MADV_POPULATE_WRITE`` maps the same pages in
    about half that time. The advice changes no byte; where it is unknown or refused
    nothing happens and the pages fault in as before.
    """
    if _MADVISE is None or view.readonly or not view.c_contiguous or not view.nbytes:
        return
    try:
        with memoryview(view).cast("B") as raw:
            address = ctypes.addressof(ctypes.c_char.from_buffer(raw))
            size = raw.nbytes
    except (TypeError, ValueError, BufferError):
        return  # only advice: a view ctypes cannot address is filled without it
    page = mmap.PAGESIZE
    start = -(-address // page) * page  # whole pages only: neighbours are not ours
    end = (address + size) // page * page
    if end > start:
        _MADVISE(start, end - start, _MADV_POPULATE_WRITE)


def tensor_memory(tensor: torch.Tensor) -> memoryview:
    """The bytes of a contiguous CPU tensor as a writable view, without a copy.

    The view, and every slice of it, keeps ``tensor`` alive: a thread still writing
    into it after its caller has gone never writes into freed memory.
    """
    size = tensor.numel() * tensor.element_size()
    if size == 0:
        return memoryview(bytearray())
    array = (ctypes.c_char * size).from_address(tensor.data_ptr())
    array._owner = tensor  # type: ignore[attr-defined]
    return memoryview(array).cast("B")
