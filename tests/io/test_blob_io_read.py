"""Reading through BlobIO against Azurite, with io.BytesIO as the reference."""

import io
import os
import subprocess
import sys

import pytest
from _fixtures import random_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azstoragetorch.exceptions import BlobModifiedError, BlobNotFoundError
from azstoragetorch.io import BlobIO
from azstoragetorch.options import ClientOptions

# Tiny windows and parts so that short test data crosses every path: window hits,
# refills, anchoring at the end, and parallel direct fetches.
TINY = ClientOptions(read_ahead=64, part_size=96)

LINES = b"".join(b"line %d\n" % i * (i % 5) for i in range(400)) + b"no newline at the end"

operations = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(-1, 700)),
        st.tuples(st.just("read"), st.none()),
        st.tuples(st.just("readinto"), st.integers(0, 700)),
        st.tuples(st.just("readline"), st.integers(-1, 120)),
        st.tuples(st.just("seek_set"), st.integers(0, len(LINES) + 50)),
        st.tuples(st.just("seek_cur"), st.integers(-300, 300)),
        st.tuples(st.just("seek_end"), st.integers(-len(LINES), 20)),
        st.tuples(st.just("tell"), st.none()),
        st.tuples(st.just("readlines"), st.none()),
    ),
    max_size=25,
)


def apply(f, operation, argument):
    if operation == "read":
        return f.read(argument)
    if operation == "readinto":
        buffer = bytearray(argument)
        return f.readinto(buffer), bytes(buffer)
    if operation == "readline":
        return f.readline(argument)
    if operation == "readlines":
        return f.readlines()
    if operation == "tell":
        return f.tell()
    whence = {"seek_set": os.SEEK_SET, "seek_cur": os.SEEK_CUR, "seek_end": os.SEEK_END}[operation]
    base = {os.SEEK_SET: 0, os.SEEK_CUR: f.tell(), os.SEEK_END: len(LINES)}[whence]
    if isinstance(f, io.BytesIO) and base + argument < 0:
        # BytesIO clamps a negative relative target to 0; BlobIO refuses every
        # negative target, as an OS file does (EINVAL), and keeps its position.
        return "refused"
    try:
        return f.seek(argument, whence)
    except ValueError as error:
        assert "Negative seek position" in str(error)
        return "refused"


@pytest.fixture(scope="module")
def lines_blob(azurite):
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        client = service.get_container_client("read-reference")
        if not client.exists():
            client.create_container()
        client.upload_blob("lines.txt", LINES, overwrite=True)
    return f"{azurite.blob_endpoint}/read-reference/lines.txt"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=operations)
def test_any_sequence_of_reads_and_seeks_matches_bytesio(lines_blob, key, sequence):
    reference = io.BytesIO(LINES)
    with BlobIO(lines_blob, "rb", credential=key, options=TINY) as f:
        for operation, argument in sequence:
            assert apply(f, operation, argument) == apply(reference, operation, argument), (
                operation,
                argument,
            )
        assert list(f) == list(reference)


def test_iteration_and_readlines_split_on_newlines(lines_blob, key):
    with BlobIO(lines_blob, "rb", credential=key, options=TINY) as f:
        assert f.readlines() == io.BytesIO(LINES).readlines()


def test_read_with_default_sizes_returns_the_whole_blob(upload, key):
    data = random_bytes(3 * 1024 * 1024 + 7)
    with BlobIO(upload("blob", data), "rb", credential=key) as f:
        assert f.read() == data
        assert f.read() == b""
        assert f.tell() == len(data)


def test_large_readinto_fetches_in_parallel_into_the_callers_buffer(upload, key, recorder):
    data = random_bytes(40 * 1024 * 1024)
    url = upload("big", data)
    options = ClientOptions(read_ahead=1024 * 1024, part_size=8 * 1024 * 1024)
    with BlobIO(url, "rb", credential=key, options=options) as f:
        buffer = bytearray(len(data))
        assert f.readinto(memoryview(buffer)) == len(data)
    assert buffer == data
    ranged = [r for r in recorder.requests if r.method == "GET"]
    # One request opens the blob (and reads the first window); the rest arrive as
    # parts of at least min_part bytes.
    assert 1 + 5 <= len(ranged) <= 1 + 10


def test_each_part_of_a_large_read_maps_its_destination_first(upload, key, monkeypatch):
    from azstoragetorch.io import _reader

    data = random_bytes(64 * 1024, seed=11)
    url = upload("mapped", data)
    advised = []  # (buffer, length, first byte) of each view handed to prefault
    monkeypatch.setattr(
        _reader, "prefault", lambda view: advised.append((view.obj, len(view), bytes(view[:1])))
    )
    options = ClientOptions(read_ahead=4096, part_size=8192)
    with BlobIO(url, "rb", credential=key, options=options) as f:
        f.seek(4096)  # past the window fetched at open: every byte comes from parts
        buffer = bytearray(60 * 1024)
        assert f.readinto(buffer) == len(buffer)
    assert buffer == data[4096:]
    # 60 KiB in 8 parts (of at most part_size), each advised once, before its bytes
    # arrived.
    parts = [entry for entry in advised if entry[0] is buffer]
    assert len(parts) == 8
    assert sum(length for _, length, _ in parts) == len(buffer)
    assert all(first == b"\x00" for _, _, first in parts)


def test_an_empty_blob_reads_as_empty_bytes(upload, key):
    with BlobIO(upload("empty", b""), "rb", credential=key) as f:
        assert f.read() == b""
        assert f.readline() == b""
        assert f.readinto(bytearray(4)) == 0
        assert f.seek(0, os.SEEK_END) == 0


def test_a_missing_blob_raises_file_not_found_naming_the_blob(container, key):
    url = f"{container.url}/missing.pt"
    with pytest.raises(FileNotFoundError) as caught:
        BlobIO(url, "rb", credential=key)
    assert isinstance(caught.value, BlobNotFoundError)
    assert caught.value.error_code == "BlobNotFound"
    assert url in str(caught.value)


def test_a_missing_container_raises_file_not_found(azurite, key):
    with pytest.raises(BlobNotFoundError, match="container does not exist") as caught:
        BlobIO(f"{azurite.blob_endpoint}/no-such-container/b", "rb", credential=key)
    assert caught.value.error_code == "ContainerNotFound"


def test_a_blob_replaced_mid_read_raises_instead_of_mixing_versions(upload, key):
    first = random_bytes(1024, seed=1)
    url = upload("changing", first)
    with BlobIO(url, "rb", credential=key, options=TINY) as f:
        assert f.read(10) == first[:10]
        upload("changing", random_bytes(1024, seed=2))
        with pytest.raises(BlobModifiedError, match="modified while it was being read"):
            f.read(500)


def test_a_snapshot_url_reads_the_snapshot(container, upload, key):
    url = upload("snap", b"old")
    snapshot = container.client.get_blob_client("snap").create_snapshot()["snapshot"]
    upload("snap", b"new content")
    with BlobIO(f"{url}?snapshot={snapshot}", "rb", credential=key) as f:
        assert f.read() == b"old"
    with BlobIO(url, "rb", credential=key) as f:
        assert f.read() == b"new content"


def test_versionid_in_the_url_reaches_every_request(upload, key, recorder):
    url = upload("versioned", b"x")
    # Azurite ignores versionid on reads; what matters is that every request asks.
    with BlobIO(f"{url}?versionid=2024-01-01T00%3A00%3A00.0000000Z", "rb", credential=key) as f:
        f.read()
    assert recorder.requests
    assert all("versionid=2024-01-01T00%3A00%3A00.0000000Z" in r.url for r in recorder.requests)


@pytest.mark.parametrize(
    ("operation", "exception"),
    [
        (lambda f: f.write(b"x"), io.UnsupportedOperation),
        (lambda f: f.fileno(), io.UnsupportedOperation),
        (lambda f: f.truncate(), io.UnsupportedOperation),
        (lambda f: f.seek(-1), ValueError),
        (lambda f: f.seek(0, 3), ValueError),
    ],
)
def test_unsupported_operations_in_read_mode(upload, key, operation, exception):
    with BlobIO(upload("ro", b"data"), "rb", credential=key) as f:
        with pytest.raises(exception):
            operation(f)
        assert f.readable()
        assert f.seekable()
        assert not f.writable()


@pytest.mark.parametrize(
    "operation",
    [
        lambda f: f.read(),
        lambda f: f.readinto(bytearray(1)),
        lambda f: f.readline(),
        lambda f: f.seek(0),
        lambda f: f.tell(),
        lambda f: f.readable(),
        lambda f: f.flush(),
        lambda f: next(iter(f)),
    ],
)
def test_every_operation_on_a_closed_reader_raises_value_error(upload, key, operation):
    f = BlobIO(upload("closed", b"data"), "rb", credential=key)
    f.close()
    f.close()  # idempotent
    assert f.closed
    with pytest.raises(ValueError, match="closed"):
        operation(f)


MEMORY_PROBE = """
import resource, sys
from azure.core.credentials import AzureNamedKeyCredential
from azstoragetorch.io import BlobIO
url, account, key, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with BlobIO(url, "rb", credential=AzureNamedKeyCredential(account, key)) as f:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    data = f.read()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
assert len(data) == size
print(after - before)
"""


def test_one_large_read_holds_the_data_about_once(container, azurite):
    size = 192 * 1024 * 1024
    blob = container.client.get_blob_client("large")
    blob.upload_blob(b"\x07" * size, overwrite=True, max_concurrency=4)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_PROBE,
            f"{container.url}/large",
            azurite.account_name,
            azurite.account_key,
            str(size),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    growth = int(result.stdout)
    assert growth <= 1.05 * size, f"peak grew by {growth / size:.2f}x the blob size"


def test_sequential_reads_fetch_the_next_window_before_it_is_needed(upload, key, recorder):
    data = random_bytes(64 * 1024)
    url = upload("sequential", data)
    options = ClientOptions(read_ahead=4096, part_size=4096)
    with BlobIO(url, "rb", credential=key, options=options) as f:
        assert f.read(2048) == data[:2048]  # served by the window fetched at open
        assert f.read(2048) == data[2048:4096]
        assert f.read(2048) == data[4096:6144]  # a sequential refill doubles the window...
        f._reader._next[2].result()  # ...and starts fetching the window after it
        ranges = [r.headers.get("x-ms-range") for r in recorder.requests if r.method == "GET"]
        assert ranges[-1] == "bytes=12288-20479"
        gets = len(ranges)
        for start in range(6144, 14336, 2048):
            assert f.read(2048) == data[start : start + 2048]
        f._reader._next[2].result()
        # Served from the prefetched window: the only new request is the next prefetch.
        assert len([r for r in recorder.requests if r.method == "GET"]) == gets + 1
        assert f.read() == data[14336:]


def test_sequential_windows_are_received_into_the_buffer_of_a_window_before(
    upload, key, monkeypatch
):
    from azstoragetorch.io import _reader

    advised = []  # window buffers are mapped already: nothing to prefault
    monkeypatch.setattr(_reader, "prefault", advised.append)
    data = random_bytes(64 * 1024, seed=5)
    url = upload("recycled", data)
    options = ClientOptions(read_ahead=4096, part_size=4096)
    with BlobIO(url, "rb", credential=key, options=options) as f:
        reader = f._reader
        buffers = {}  # window start -> the buffer holding that window
        for start in range(0, len(data), 1024):
            assert f.read(1024) == data[start : start + 1024]
            buffers.setdefault(reader._window_start, reader._window.obj)
        assert f.read() == b""
    # The first window is read_ahead long; sequential reading doubles it once.
    assert sorted(buffers) == [0, *range(4096, len(data), 8192)]
    # Once the window has its final size, the window being read and the one being
    # fetched behind it take turns with two buffers; the windows before that had
    # their own: 9 windows, 4 buffers, not one per window.
    assert len({id(buffer) for buffer in buffers.values()}) == 4
    assert advised == []


def test_a_jump_away_from_a_prefetched_window_reads_the_right_bytes(upload, key):
    data = random_bytes(64 * 1024, seed=3)
    url = upload("jumping", data)
    options = ClientOptions(read_ahead=4096, part_size=4096)
    with BlobIO(url, "rb", credential=key, options=options) as f:
        f.read(2048)
        f.read(2048)
        f.read(2048)  # prefetches 8192..12287
        f.seek(40_000)
        assert f.read(100) == data[40_000:40_100]
        f.seek(8192)
        assert f.read(10) == data[8192:8202]


def test_a_body_broken_mid_transfer_is_resumed_from_where_it_stopped(
    upload, key, recorder, monkeypatch
):
    from azstoragetorch._core import _body

    data = random_bytes(1024 * 1024, seed=7)
    url = upload("resumed", data)
    real_readinto = _body.BodyReader.readinto
    broken = []

    def break_once(self, destination):
        if broken:
            return real_readinto(self, destination)
        broken.append(True)
        half = len(destination) // 2
        real_readinto(self, destination[:half])
        self.discard()
        error = ConnectionResetError("reset by peer")
        error.bytes_received = half
        raise error

    # A 64 KiB first window; the rest is one direct ranged GET (65536-1048575).
    options = ClientOptions(read_ahead=65536, part_size=8 << 20)
    with BlobIO(url, "rb", credential=key, options=options) as f:
        monkeypatch.setattr(_body.BodyReader, "readinto", break_once)
        f.seek(100)
        assert f.read() == data[100:]
    ranges = [r.headers.get("x-ms-range") for r in recorder.requests if r.method == "GET"]
    resume_at = 65536 + (1048576 - 65536) // 2
    # Open, then the read that broke halfway, then only the part still missing.
    assert ranges[1:] == ["bytes=65536-1048575", f"bytes={resume_at}-1048575"]
