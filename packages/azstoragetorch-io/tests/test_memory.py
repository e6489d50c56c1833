"""The memory techniques of the read path, each on its fast path and its fallback.

fill_new_bytes fills a new ``bytes`` in place on CPython, or a copy elsewhere;
prefault maps fresh memory in one madvise call, or does nothing where it cannot;
tensor_memory views a tensor's storage, or an empty view for an empty tensor.
"""

import ctypes
import gc
import mmap
import sys
import weakref

import pytest
import torch

from azstoragetorch.io import _memory

SIZE = 64 * 1024 * 1024
ON_LINUX = sys.platform.startswith("linux")


# -- fill_new_bytes -------------------------------------------------------------


def pattern(view):
    for index in range(len(view)):
        view[index] = index % 251


@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "copy"])
@pytest.mark.parametrize("size", [0, 1, 2, 4096])
def test_the_new_bytes_hold_what_fill_wrote(monkeypatch, in_place, size):
    monkeypatch.setattr(_memory, "FILL_IN_PLACE", in_place)
    data = _memory.fill_new_bytes(size, pattern)
    assert type(data) is bytes
    assert data == bytes(index % 251 for index in range(size))


def test_the_fast_path_fills_the_returned_object_itself(monkeypatch):
    monkeypatch.setattr(_memory, "FILL_IN_PLACE", True)
    seen = []
    data = _memory.fill_new_bytes(4096, lambda view: seen.append(view.obj) or pattern(view))
    address = ctypes.addressof(seen[0])
    assert address == id(data) + bytes.__basicsize__ - 1


def test_small_results_never_alter_the_shared_singletons():
    _memory.fill_new_bytes(1, pattern)
    assert bytes(1) == b"\x00"


# -- prefault -------------------------------------------------------------------


def test_prefault_leaves_the_content_unchanged():
    buffer = bytearray(range(256)) * 4096
    expected = bytes(buffer)
    _memory.prefault(memoryview(buffer)[5:-7])
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
    _memory.prefault(view)
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
    if _memory._MADVISE is None:
        return False
    with mmap.mmap(-1, mmap.PAGESIZE) as area, memoryview(area) as view:
        address = ctypes.addressof(ctypes.c_char.from_buffer(view))
        return _memory._MADVISE(address, mmap.PAGESIZE, _memory._MADV_POPULATE_WRITE) == 0


def fresh_small_pages(area):
    # Huge pages would map fresh memory 2 MiB at a time: ask for small ones.
    with memoryview(area) as view:
        address = ctypes.addressof(ctypes.c_char.from_buffer(view))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    libc.madvise(address, SIZE, 15)  # MADV_NOHUGEPAGE
    assert resident_pages(area, SIZE) < SIZE // mmap.PAGESIZE // 100  # nothing mapped yet


@pytest.mark.skipif(
    not kernel_takes_populate_write(),
    reason="needs Linux 5.14+ and CPython (elsewhere prefault does nothing, by design)",
)
def test_fresh_memory_is_mapped_before_anything_is_written_to_it():
    with mmap.mmap(-1, SIZE) as area:
        fresh_small_pages(area)
        with memoryview(area) as view:
            _memory.prefault(view)
        assert resident_pages(area, SIZE) == SIZE // mmap.PAGESIZE
        assert area[:4] == bytes(4)  # and nothing was written


@pytest.mark.skipif(not ON_LINUX, reason="mincore, which tells mapped pages, is Linux's")
def test_without_madvise_prefault_maps_nothing(monkeypatch):
    monkeypatch.setattr(_memory, "_MADVISE", None)
    with mmap.mmap(-1, SIZE) as area:
        fresh_small_pages(area)
        with memoryview(area) as view:
            _memory.prefault(view)
        assert resident_pages(area, SIZE) < SIZE // mmap.PAGESIZE // 100


@pytest.mark.parametrize(
    ("platform", "implementation"), [("darwin", "cpython"), ("win32", "cpython"), ("linux", "pypy")]
)
def test_madvise_is_used_only_on_linux_under_cpython(monkeypatch, platform, implementation):
    monkeypatch.setattr(_memory.sys, "platform", platform)
    monkeypatch.setattr(_memory.sys.implementation, "name", implementation)
    assert _memory._linux_madvise() is None


def test_only_whole_pages_inside_the_view_are_advised(monkeypatch):
    # The pages a view shares with its neighbours at either end are not its own.
    page = mmap.PAGESIZE
    area = mmap.mmap(-1, 4 * page)
    calls = []
    monkeypatch.setattr(_memory, "_MADVISE", lambda start, size, _: calls.append((start, size)))
    with memoryview(area) as whole:
        base = ctypes.addressof(ctypes.c_char.from_buffer(whole))
        with whole[page - 10 : 3 * page + 10] as inner:
            _memory.prefault(inner)
        with whole[page + 1 : 2 * page - 1] as within_one_page:
            _memory.prefault(within_one_page)
    area.close()
    assert calls == [(base + page, 2 * page)]


# -- tensor_memory --------------------------------------------------------------


def test_the_view_is_the_tensors_memory_and_writes_reach_the_tensor():
    tensor = torch.zeros(4, dtype=torch.int32)
    view = _memory.tensor_memory(tensor)
    assert view.nbytes == 16
    view[4:8] = (7).to_bytes(4, "little")
    assert tensor.tolist() == [0, 7, 0, 0]


def test_the_view_and_its_slices_keep_the_tensor_alive():
    tensor = torch.zeros(1024, dtype=torch.uint8)
    alive = weakref.ref(tensor)
    part = _memory.tensor_memory(tensor)[512:]
    del tensor
    gc.collect()
    assert alive() is not None  # a thread writing through ``part`` writes into live memory
    part[:3] = b"abc"
    assert bytes(alive()[512:515].tolist()) == b"abc"
    del part
    gc.collect()
    assert alive() is None


def test_an_empty_tensor_has_an_empty_writable_view():
    view = _memory.tensor_memory(torch.empty(0))
    assert view.nbytes == 0
    assert not view.readonly
