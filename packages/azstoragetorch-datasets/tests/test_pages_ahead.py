"""Listing one page ahead (no network: the pages are plain lists)."""

import threading
import time

import pytest

from azstoragetorch.datasets._sources import pages_ahead


def listing_threads():
    return [t for t in threading.enumerate() if t.name.startswith("azstoragetorch-listing")]


def counted_pages(count, fail_at=None):
    asked = []

    def pages():
        for number in range(1, count + 1):
            asked.append(number)
            if number == fail_at:
                raise OSError(f"page {number} could not be listed")
            yield [f"p{number}-{entry}" for entry in range(3)]

    return pages(), asked


def test_pages_come_in_order_and_the_thread_is_gone_at_the_end():
    pages, asked = counted_pages(4)
    assert [page[0] for page in pages_ahead(pages)] == ["p1-0", "p2-0", "p3-0", "p4-0"]
    assert asked == [1, 2, 3, 4]
    assert listing_threads() == []


def test_the_next_page_is_asked_for_while_one_is_in_use_and_no_further():
    pages, asked = counted_pages(10)
    ahead = pages_ahead(pages)
    next(ahead)
    next(ahead)
    # Page 3 is being fetched while page 2 is used; wait for it to be asked for.
    for _ in range(1000):
        if len(asked) == 3:
            break
        time.sleep(0.005)
    time.sleep(0.05)  # time enough for a listing that ran further ahead to show it
    assert asked == [1, 2, 3]
    ahead.close()
    assert asked == [1, 2, 3]


def test_an_error_in_a_page_comes_after_the_pages_before_it():
    pages, _ = counted_pages(5, fail_at=3)
    got = []
    with pytest.raises(OSError, match="page 3"):
        for page in pages_ahead(pages):
            got.append(page[0])
    assert got == ["p1-0", "p2-0"]
    assert listing_threads() == []
