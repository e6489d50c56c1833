"""prefault maps fresh memory for writing in one call, and never changes a byte."""

import ctypes
import mmap

import pytest

from azstoragetorch.io import _reader

SIZE = 64 * 1024 * 1024


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


def resident_pages(area, size):
    """How many of the first ``size`` bytes' pages of the mmap ``area`` are in memory."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
    pages = size // mmap.PAGESIZE
    vector = ctypes.create_string_buffer(pages)
    with memoryview(area) as view:
        address = ctypes.addressof(ctypes.c_char.from_buffer(view))
        assert libc.mincore(address, size, vector) == 0, ctypes.get_errno()
    return sum(byte & 1 for byte in vector.raw)


def kernel_takes_populate_write():
    if _reader._MADVISE is None:
        return False
    with mmap.mmap(-1, mmap.PAGESIZE) as area, memoryview(area) as view:
        address = ctypes.addressof(ctypes.c_char.from_buffer(view))
        return _reader._MADVISE(address, mmap.PAGESIZE, _reader._MADV_POPULATE_WRITE) == 0


@pytest.mark.skipif(
    not kernel_takes_populate_write(),
    reason="needs Linux 5.14+ and CPython (elsewhere prefault does nothing, by design)",
)
def test_fresh_memory_is_mapped_before_anything_is_written_to_it():
    with mmap.mmap(-1, SIZE) as area:
        # Huge pages would map fresh memory 2 MiB at a time: ask for small ones.
        with memoryview(area) as view:
            address = ctypes.addressof(ctypes.c_char.from_buffer(view))
        _reader._MADVISE(address, SIZE, 15)  # MADV_NOHUGEPAGE
        pages = SIZE // mmap.PAGESIZE
        assert resident_pages(area, SIZE) < pages // 100  # fresh: nothing mapped yet
        with memoryview(area) as view:
            _reader.prefault(view)
        assert resident_pages(area, SIZE) == pages
        assert area[:4] == bytes(4)  # and nothing was written


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
