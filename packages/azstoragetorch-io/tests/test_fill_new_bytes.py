"""read() builds its result with fill_new_bytes, in place on CPython or by a copy."""

import pytest

from azstoragetorch.io import _reader


def pattern(view):
    for index in range(len(view)):
        view[index] = index % 251


@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "copy"])
@pytest.mark.parametrize("size", [0, 1, 2, 4096])
def test_the_result_holds_what_fill_wrote(monkeypatch, in_place, size):
    monkeypatch.setattr(_reader, "FILL_IN_PLACE", in_place)
    data = _reader.fill_new_bytes(size, pattern)
    assert type(data) is bytes
    assert data == bytes(index % 251 for index in range(size))


def test_small_results_never_alter_the_shared_singletons():
    _reader.fill_new_bytes(1, pattern)
    assert bytes(1) == b"\x00"
