"""The listing that the DataLoader workers of a process share: the spool's own logic.

Workers here are plain calls (or a forked process) given a slot by hand; the
tests with real DataLoader workers and Azurite are in ``test_workers.py``.
"""

import fcntl
import multiprocessing
import os
import tempfile
import threading
import uuid

import pytest

from azstoragetorch._core._listing import ListedBlob
from azstoragetorch.datasets import _shared_listing
from azstoragetorch.datasets._shared_listing import Slot, shared_entries
from azstoragetorch.exceptions import BlobNotFoundError

PAGES = [
    [ListedBlob(f"p{page}/{index}", index, f'"0x{page}{index}"', None, None) for index in range(3)]
    for page in range(4)
]
ENTRIES = [tuple(entry) for page in PAGES for entry in page]


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    """The private spool directory, under this test's own temporary directory."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(_shared_listing, "_warned", False)
    return tmp_path / f"azstoragetorch-listings-{os.getuid()}"


def slots(workers):
    iteration = f"{os.getppid()}-{uuid.uuid4().hex}-0"
    return [Slot(iteration, "listing-1", worker, workers) for worker in range(workers)]


class Pages:
    """A listing's pages; counts how many times it was listed, can fail after some."""

    def __init__(self, fail_after=None, error=None):
        self.calls = 0
        self.fail_after = fail_after
        self.error = error

    def __call__(self):
        self.calls += 1
        for number, page in enumerate(PAGES):
            if number == self.fail_after:
                raise self.error
            yield page


def test_one_worker_lists_and_every_worker_reads_every_entry_in_order(spool_dir):
    pages = Pages()
    readers = [shared_entries(pages, where) for where in slots(3)]
    assert [list(reader) for reader in readers] == [ENTRIES] * 3
    assert pages.calls == 1
    # Every worker joined: no name of the spool is left.
    assert os.listdir(spool_dir) == []
    assert oct(os.stat(spool_dir).st_mode & 0o777) == "0o700"


def test_a_worker_starts_reading_before_the_listing_ends(spool_dir):
    go_on = threading.Event()

    def pages():
        yield PAGES[0]
        assert go_on.wait(60)
        yield from PAGES[1:]

    reader = shared_entries(pages, slots(1)[0])
    # The listing waits after its first page, yet the first entries arrive.
    assert [next(reader) for _ in range(3)] == ENTRIES[:3]
    go_on.set()
    assert list(reader) == ENTRIES[3:]


def test_a_listing_error_is_raised_in_every_worker(spool_dir):
    error = BlobNotFoundError(
        "The container 'x' does not exist.", status_code=404, error_code="ContainerNotFound"
    )
    pages = Pages(fail_after=2, error=error)
    for reader in [shared_entries(pages, where) for where in slots(2)]:
        got = []
        with pytest.raises(BlobNotFoundError, match="does not exist") as raised:
            got.extend(reader)
        assert raised.value.error_code == "ContainerNotFound"
        assert got == ENTRIES[:6]  # the pages listed before the failure
    assert pages.calls == 1


class _LocalError(Exception):
    """Cannot be unpickled: a worker is told its type and message instead."""

    def __init__(self, message, extra):
        super().__init__(message)
        self.extra = extra


def test_an_error_that_cannot_cross_processes_is_described(spool_dir):
    pages = Pages(fail_after=0, error=_LocalError("listing broke sig=SECRET", 1))
    with pytest.raises(RuntimeError, match="_LocalError: listing broke") as raised:
        list(shared_entries(pages, slots(1)[0]))
    assert "SECRET" not in str(raised.value)


def _list_then_die(where):
    def pages():
        yield PAGES[0]
        os._exit(3)  # the lister's process dies mid-listing

    shared_entries(pages, where)
    threading.Event().wait(120)  # the listing thread ends the process first
    os._exit(0)


@pytest.mark.skipif(os.name != "posix", reason="workers share a listing on POSIX only")
def test_workers_get_an_error_when_the_lister_dies(spool_dir):
    where = slots(2)
    lister = multiprocessing.get_context("fork").Process(target=_list_then_die, args=(where[0],))
    lister.start()
    lister.join(180)
    assert lister.exitcode == 3
    got = []
    with pytest.raises(RuntimeError, match="stopped before the listing was complete"):
        got.extend(shared_entries(Pages(), where[1]))
    assert got == ENTRIES[:3]


def test_spools_left_by_a_dead_process_are_removed_by_the_next_lister(spool_dir):
    list(shared_entries(Pages(), slots(1)[0]))  # makes the directory
    child = multiprocessing.get_context("fork").Process(target=os._exit, args=(0,))
    child.start()
    child.join()
    stale = spool_dir / f"{child.pid}-5-7-1.spool"
    stale.write_bytes(b"P")
    # Spools of this rank for another iterator: one whose lister is done, and one
    # whose lister still holds it; and a spool of the lister's own iterator, whose
    # other workers may not have started yet.
    finished = spool_dir / f"{os.getppid()}-9-9-x-1.spool.1"
    finished.write_bytes(b"P")
    busy = spool_dir / f"{os.getppid()}-9-9-x-2.spool"
    busy.write_bytes(b"P")
    where = slots(1)[0]
    same_iterator = spool_dir / f"{where.iteration}-other-1.spool"
    same_iterator.write_bytes(b"P")
    with open(busy, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        list(shared_entries(Pages(), where))
    assert not stale.exists()
    assert not finished.exists()
    assert busy.exists()
    assert same_iterator.exists()


def test_a_directory_that_is_not_private_makes_each_worker_list_alone(spool_dir):
    spool_dir.mkdir(mode=0o755)
    os.chmod(spool_dir, 0o755)
    pages = Pages()
    with pytest.warns(RuntimeWarning, match="each worker lists the container itself"):
        readers = [shared_entries(pages, where) for where in slots(2)]
    assert [list(reader) for reader in readers] == [ENTRIES] * 2
    assert pages.calls == 2
    assert os.listdir(spool_dir) == []
