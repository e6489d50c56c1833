"""How BlobIO reads and DCP loads cut a large range into parallel parts."""

import random

from azstoragetorch.io._reader import split_parts

MIB = 1024 * 1024


def test_parts_are_large_and_cover_the_range_exactly():
    assert split_parts(10 * MIB, 32 * MIB, 16 * MIB) == [(0, 10 * MIB)]
    assert split_parts(40 * MIB, 32 * MIB, 16 * MIB) == [(0, 20 * MIB), (20 * MIB, 20 * MIB)]
    assert split_parts(0, 32 * MIB, 16 * MIB) == []
    for size in random.Random(0).sample(range(1, 500 * MIB), 50):
        parts = split_parts(size, 32 * MIB, 16 * MIB)
        assert sum(length for _, length in parts) == size
        assert [offset for offset, _ in parts] == [
            sum(n for _, n in parts[:i]) for i in range(len(parts))
        ]
        assert len(parts) == 1 or min(length for _, length in parts) >= 16 * MIB


def test_a_range_shorter_than_min_part_is_one_part():
    assert split_parts(5, 8192, 8192) == [(0, 5)]


def test_parts_are_equal_but_the_last_which_takes_the_remainder():
    # 60 KiB in parts of at least 8 KiB: 7 parts of ceil(61440 / 7) = 8778 bytes.
    parts = split_parts(60 * 1024, 8192, 8192)
    assert parts == [(index * 8778, 8778) for index in range(6)] + [(6 * 8778, 61440 - 6 * 8778)]
