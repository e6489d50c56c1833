"""prefault maps fresh memory for writing in one call, and never changes a byte."""

import ctypes
import mmap
import resource
import sys

import pytest

from azstoragetorch.io import _reader

SIZE = 64 * 1024 * 1024


def fresh_bytes(size):
    """A new bytes object and a writable view of its payload (as fill_new_bytes makes)."""
    data = bytes(size)
    array = (ctypes.c_char * size).from_address(id(data) + bytes.__basicsize__ - 1)
    return data, memoryview(array).cast("B")


def test_the_content_is_unchanged():
    buffer = bytearray(range(256)) * 4096
    expected = bytes(buffer)
    _reader.prefault(memoryview(buffer)[5:-7])
    assert buffer == expected


@pytest.mark.parametrize(
    "view",
    [
        memoryview(b"read-only bytes"),
        memoryview(bytearray(0)),
        memoryview(bytearray(100))[::2],  # not contiguous
        memoryview(bytearray(3)),  # less than a page
    ],
    ids=["read-only", "empty", "strided", "sub-page"],
)
def test_views_it_cannot_or_need_not_map_are_left_alone(view):
    before = bytes(view)
    _reader.prefault(view)
    assert bytes(view) == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MADV_POPULATE_WRITE is Linux's")
def test_writing_prefaulted_fresh_memory_takes_almost_no_page_faults():
    data, view = fresh_bytes(SIZE)
    with view:
        _reader.prefault(view[1:])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        view[:] = b"\xa5" * SIZE
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    pages = SIZE // mmap.PAGESIZE
    # Without prefault every page faults once when first written (and the b"\xa5"
    # source itself is fresh memory too, so allow for its pages).
    assert faults < pages + pages // 10
    assert data[:2] == b"\xa5\xa5"
    assert data[-1:] == b"\xa5"


def test_only_whole_pages_inside_the_view_are_advised(monkeypatch):
    # The pages a view shares with its neighbours at either end are not its own.
    page = mmap.PAGESIZE
    area = mmap.mmap(-1, 4 * page)
    calls = []
    monkeypatch.setattr(_reader, "_MADVISE", lambda start, size, _: calls.append((start, size)))
    with memoryview(area) as whole:
        base = ctypes.addressof(ctypes.c_char.from_buffer(whole))
        with whole[page - 10 : 3 * page + 10] as inner:
            _reader.prefault(inner)
        with whole[page + 1 : 2 * page - 1] as within_one_page:
            _reader.prefault(within_one_page)
    area.close()
    assert calls == [(base + page, 2 * page)]
