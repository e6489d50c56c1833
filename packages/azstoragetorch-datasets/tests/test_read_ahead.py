"""Scheduling of reads ahead of the transform (no network: readers are stand-ins)."""

import threading

import pytest
from azure.core.credentials import AzureNamedKeyCredential

from azstoragetorch._core._url import BlobURL
from azstoragetorch.datasets import Blob
from azstoragetorch.datasets._dataset_clients import ClientFactory
from azstoragetorch.datasets._read_ahead import READ_AHEAD, ReadAhead, read_ahead

CLIENTS = ClientFactory(AzureNamedKeyCredential("devstoreaccount1", "a2V5"))


class Reader:
    """Stands in for the BlobIO a blob would open."""

    def __init__(self, name):
        self.name = name
        self.closed = threading.Event()

    def close(self):
        self.closed.set()


class StandInBlob(Blob):
    """A Blob whose reader is a stand-in; notes every reader it opens."""

    __slots__ = ("log",)

    def __init__(self, name, log):
        super().__init__(BlobURL.parse(f"http://127.0.0.1:1/devstoreaccount1/c/{name}"), CLIENTS)
        self.log = log

    def _open(self):
        reader = Reader(self.blob_name)
        with self.log["lock"]:
            self.log["opened"].append(reader)
        return reader


def make_blobs(count):
    log = {"lock": threading.Lock(), "opened": []}
    return [StandInBlob(f"b{index:03d}", log) for index in range(count)], log


def test_blobs_come_out_in_order_with_their_reader_opened_ahead():
    blobs, _ = make_blobs(50)
    names = []
    for blob in read_ahead(blobs, ReadAhead()):
        reader = blob.reader()
        names.append(reader.name)
    assert names == [blob.blob_name for blob in blobs]


def test_no_more_than_the_read_ahead_depth_is_started():
    blobs, log = make_blobs(100)
    ahead = read_ahead(blobs, ReadAhead(), depth=5)
    first = next(ahead)
    first.reader()
    assert len(log["opened"]) <= 5
    ahead.close()
    assert len(log["opened"]) <= 5


def test_readers_not_taken_are_closed():
    blobs, log = make_blobs(10)
    taken = [
        blob.reader() for index, blob in enumerate(read_ahead(blobs, ReadAhead())) if index % 2
    ]
    untaken = [reader for reader in log["opened"] if reader not in taken]
    assert sorted(reader.name for reader in taken) == [f"b{i:03d}" for i in range(1, 10, 2)]
    # Opens not yet started were cancelled; one still running when its blob was
    # passed is closed as it completes.
    assert {reader.name for reader in untaken} <= {f"b{i:03d}" for i in range(0, 10, 2)}
    assert all(reader.closed.wait(timeout=10) for reader in untaken)
    assert not any(reader.closed.is_set() for reader in taken)  # the consumer's to close


def test_closing_early_releases_the_readers_under_way():
    blobs, log = make_blobs(40)
    ahead = read_ahead(blobs, ReadAhead(), depth=8)
    next(ahead)
    ahead.close()
    assert all(blob._opening is None for blob in blobs)
    assert all(reader.closed.wait(timeout=10) for reader in log["opened"])


def test_reading_ahead_stops_for_a_transform_that_never_reads_and_resumes_when_it_does():
    blobs, log = make_blobs(3 * READ_AHEAD)
    policy = ReadAhead()
    ahead = read_ahead(blobs, policy)
    for _ in range(READ_AHEAD + 1):
        next(ahead)  # not read (a blob is judged when the next one is asked for)
    assert not policy.active
    started = len(log["opened"])
    for _ in range(READ_AHEAD // 2):
        next(ahead)
    assert len(log["opened"]) == started  # nothing new while inactive
    next(ahead).reader()  # read synchronously: reading ahead pays off again
    next(ahead)
    assert policy.active
    assert len(log["opened"]) > started + 1
    ahead.close()


def test_an_error_opening_a_reader_surfaces_from_reader():
    class Failing(StandInBlob):
        __slots__ = ()

        def _open(self):
            raise FileNotFoundError(self.blob_name)

    log = {"lock": threading.Lock(), "opened": []}
    blob = Failing("gone", log)
    ahead = read_ahead([blob], ReadAhead())
    handed = next(ahead)
    assert handed._opening is not None  # the error waits in the opening
    with pytest.raises(FileNotFoundError, match="gone"):
        handed.reader()
    ahead.close()


def test_an_error_from_the_source_comes_after_the_blobs_taken_before_it():
    blobs, _ = make_blobs(5)

    def listing():
        yield from blobs
        raise OSError("page 2 could not be listed")

    names = []
    with pytest.raises(OSError, match="page 2"):
        for blob in read_ahead(listing(), ReadAhead(), depth=8):
            names.append(blob.reader().name)
    assert names == [blob.blob_name for blob in blobs]
