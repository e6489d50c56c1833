"""The cache's arguments, names and eviction, without storage."""

import multiprocessing
import os
import pickle
import signal
import stat
import threading
import time
import warnings

import pytest
from azure.core.credentials import AzureNamedKeyCredential

from azstoragetorch._core._url import BlobURL
from azstoragetorch.datasets import BlobDataset, IterableBlobDataset
from azstoragetorch.datasets._cache import BlobCache, check_cache

# Nothing listens here: a test that sent a request would fail with a connection error.
CONTAINER = "http://127.0.0.1:1/devstoreaccount1/c"
KEY = AzureNamedKeyCredential("devstoreaccount1", "a2V5")
SECRET = "c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"

DATASETS = pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])


def factories(dataset_cls):
    """Each factory of ``dataset_cls``, as a function of the cache arguments."""
    return [
        lambda **cache: dataset_cls.from_blob_urls(f"{CONTAINER}/a", credential=KEY, **cache),
        lambda **cache: dataset_cls.from_container_url(CONTAINER, credential=KEY, **cache),
    ]


def reader_of_a_blob(**cache):
    blob = BlobDataset.from_blob_urls(f"{CONTAINER}/a", credential=KEY)._blobs[0]
    return blob.reader(**cache)


@pytest.fixture(params=["map-urls", "map-container", "iterable-urls", "reader"])
def make(request):
    """Something that takes ``cache_dir`` and ``cache_max_bytes``. The container
    factory of the map dataset lists at once, so it is checked with the iterable's."""
    if request.param == "reader":
        return reader_of_a_blob
    if request.param == "map-container":
        return factories(IterableBlobDataset)[1]
    cls = BlobDataset if request.param.startswith("map") else IterableBlobDataset
    return factories(cls)[0]


def test_a_cache_dir_that_is_a_file_is_a_value_error(make, tmp_path):
    path = tmp_path / "file"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"cache_dir '.*file' exists and is not a directory"):
        make(cache_dir=path)


@pytest.mark.parametrize("bound", [0, -1, -(2**40)])
def test_a_cache_max_bytes_below_1_is_a_value_error(make, tmp_path, bound):
    with pytest.raises(
        ValueError, match=f"cache_max_bytes must be at least 1 .bytes., not {bound}"
    ):
        make(cache_dir=tmp_path, cache_max_bytes=bound)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bound", [1.5, "100", True])
def test_a_cache_max_bytes_of_the_wrong_type_is_a_type_error(make, tmp_path, bound):
    with pytest.raises(TypeError, match="cache_max_bytes must be an int"):
        make(cache_dir=tmp_path, cache_max_bytes=bound)


@pytest.mark.parametrize("directory", [42, b"/tmp/cache", ["/tmp"]])
def test_a_cache_dir_of_the_wrong_type_is_a_type_error(make, directory):
    with pytest.raises(TypeError, match=r"cache_dir must be a str or os\.PathLike"):
        make(cache_dir=directory)


def test_a_bound_without_a_directory_is_a_value_error(make):
    with pytest.raises(ValueError, match="cache_max_bytes bounds a cache: pass cache_dir too"):
        make(cache_max_bytes=10)


def test_an_empty_cache_dir_is_a_value_error(make):
    with pytest.raises(ValueError, match="cache_dir must not be empty"):
        make(cache_dir="")


def test_a_missing_directory_is_made_with_mode_0700_and_parents(tmp_path):
    old = os.umask(0)
    try:
        cache = check_cache(tmp_path / "a" / "b", 10)
    finally:
        os.umask(old)
    assert isinstance(cache, BlobCache)
    assert cache.directory == str(tmp_path / "a" / "b")
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    # The probe file is gone; the lock file is ready.
    assert os.listdir(tmp_path / "a" / "b") == [".lock"]
    assert stat.S_IMODE((tmp_path / "a" / "b" / ".lock").stat().st_mode) == 0o600


def test_one_process_shares_one_cache_per_directory_and_bound(tmp_path):
    first = check_cache(str(tmp_path), 100)
    assert check_cache(tmp_path, 100) is first
    assert check_cache(tmp_path, 200) is not first
    assert pickle.loads(pickle.dumps(first)) is first


def test_names_hash_the_blob_and_etag_and_never_the_sas(tmp_path):
    cache = check_cache(tmp_path, None)
    assert cache is not None
    plain = BlobURL.parse(f"{CONTAINER}/dir/a.bin")
    signed = BlobURL.parse(f"{CONTAINER}/dir/a.bin?sv=2025-01-05&sig={SECRET}")
    snapshot = BlobURL.parse(f"{CONTAINER}/dir/a.bin?snapshot=2025-01-01T00:00:00Z")
    name = cache.entry_name(plain, '"0x1"')
    assert name == cache.entry_name(signed, '"0x1"')  # one copy whatever the credential
    assert len(name) == 40
    assert all(c in "0123456789abcdef" for c in name)
    assert cache.entry_name(plain, '"0x2"') != name
    assert cache.entry_name(snapshot, '"0x1"') != name
    assert cache.entry_name(BlobURL.parse(f"{CONTAINER}/dir/b.bin"), '"0x1"') != name
    assert cache.index_name(signed) == cache.index_name(plain)
    assert cache.index_name(plain).endswith(".json")


def test_eviction_removes_the_least_recently_used_first(tmp_path):
    cache = check_cache(tmp_path, 1000)
    assert cache is not None
    for index in range(10):
        (tmp_path / f"{index:040x}").write_bytes(b"x" * 100)
        # Older index, older use; entry 3 was used last of all.
        os.utime(tmp_path / f"{index:040x}", (1000 + index, 1000 + index))
    os.utime(tmp_path / f"{3:040x}", (5000, 5000))
    with cache.new_entry("f" * 40, 300) as entry:
        entry.write(memoryview(b"y" * 300))
        entry.commit()
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    # Room for 300 bytes under 1000 means at most 700 (less 10% slack: 630) kept.
    assert left == sorted([f"{index:040x}" for index in (3, 5, 6, 7, 8, 9)] + ["f" * 40])
    assert sum((tmp_path / name).stat().st_size for name in left) <= 1000


def test_a_copy_is_written_aside_and_renamed_with_mode_0600(tmp_path):
    cache = check_cache(tmp_path, None)
    assert cache is not None
    with cache.new_entry("a" * 40, 5) as entry:
        entry.write(memoryview(b"hel"))
        assert not (tmp_path / ("a" * 40)).exists()  # half written: not under its name
        (partial,) = [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
        entry.write(memoryview(b"lo"))
        entry.commit()
    assert not partial.exists()
    assert (tmp_path / ("a" * 40)).read_bytes() == b"hello"
    assert stat.S_IMODE((tmp_path / ("a" * 40)).stat().st_mode) == 0o600
    assert cache.read("a" * 40, 5) == b"hello"
    assert cache.read("a" * 40, 6) is None  # not the size the listing says
    assert cache.read("b" * 40, None) is None


def test_an_entry_left_unfinished_leaves_nothing(tmp_path):
    cache = check_cache(tmp_path, None)
    assert cache is not None
    with pytest.raises(KeyboardInterrupt), cache.new_entry("a" * 40, 5) as entry:
        entry.write(memoryview(b"hel"))
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == [".lock"]


def test_a_blobs_lock_excludes_other_threads_but_not_other_blobs(tmp_path):
    cache = check_cache(tmp_path, None)
    assert cache is not None
    url = BlobURL.parse(f"{CONTAINER}/a")
    held = cache.lock(url)
    cache.lock(BlobURL.parse(f"{CONTAINER}/b")).release()  # another blob: no wait
    taken = threading.Event()

    def take():
        cache.lock(url).release()
        taken.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert not taken.wait(0.5)  # waiting for the holder
    held.release()
    assert taken.wait(30)
    thread.join()


def test_a_forked_child_does_not_keep_its_parents_lock(tmp_path):
    cache = check_cache(tmp_path, None)
    assert cache is not None
    url = BlobURL.parse(f"{CONTAINER}/a")
    held = cache.lock(url)
    go, ready = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
    if pid == 0:  # the child: once the parent lets go, the lock must be free
        code = 1
        try:
            os.read(go, 1)
            signal.alarm(30)  # a child that still held the lock would wait forever
            cache.lock(url).release()
            code = 0
        finally:
            os._exit(code)
    held.release()
    os.write(ready, b"x")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _submit_a_slow_copy_and_exit(path: str) -> None:
    from azstoragetorch.datasets import _cache

    def slow_copy() -> None:
        time.sleep(1)  # a disk slower than the process's exit
        with open(path, "w") as file:
            file.write("written")

    _cache._writer.get().submit(slow_copy, 0)


def test_a_process_writes_the_copies_still_waiting_before_it_exits(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        child = multiprocessing.get_context("fork").Process(
            target=_submit_a_slow_copy_and_exit, args=(str(tmp_path / "copy"),)
        )
        child.start()
    child.join(60)
    assert child.exitcode == 0
    assert (tmp_path / "copy").read_text() == "written"


def test_the_writer_holds_a_reader_back_while_its_queue_is_full_and_flush_waits(monkeypatch):
    from azstoragetorch.datasets import _cache

    monkeypatch.setattr(_cache, "_PENDING", 2)
    writer = _cache._Writer()  # a writer of this test's own, with the small bound
    gate = threading.Event()
    written = []

    def copy(number):
        def job():
            gate.wait(30)
            written.append(number)

        return job

    submitted = []

    def submit_all():
        for number in range(_cache._WRITERS + 3):
            writer.submit(copy(number), 1)
            submitted.append(number)

    submitter = threading.Thread(target=submit_all)
    submitter.start()
    deadline = time.monotonic() + 30
    while len(submitted) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # time for a third submit, were it not held back
    # Two copies unfinished (being written or waiting) is the bound: the third waits.
    assert len(submitted) == 2
    assert written == []
    gate.set()
    submitter.join(30)
    writer.flush()
    assert sorted(written) == list(range(_cache._WRITERS + 3))


def test_small_copies_are_written_in_place_until_one_write_is_slow(tmp_path, monkeypatch):
    from azstoragetorch.datasets import _cache

    cache = check_cache(tmp_path, None)
    assert cache is not None
    blobs = [BlobURL.parse(f"{CONTAINER}/inline/{index}") for index in range(3)]
    held = []

    def store(index):
        name = cache.entry_name(blobs[index], '"0x1"')
        lock = cache.lock(blobs[index])
        held.append(lock)
        cache.store_later(name, bytearray(b"copy %d" % index), lock)
        return tmp_path / name

    # A quick write: done, and the blob's lock released, before store_later returns.
    monkeypatch.setattr(_cache, "_INLINE_SECONDS", 60.0)
    assert store(0).read_bytes() == b"copy 0"
    assert held[0]._fd == -1
    # A write slower than the bound (every write is, at 0 s) is still done in place;
    # from then on this process's writer threads write the copies.
    monkeypatch.setattr(_cache, "_INLINE_SECONDS", 0.0)
    assert store(1).read_bytes() == b"copy 1"
    gate = threading.Event()
    for _ in range(_cache._WRITERS):  # every writer busy until the gate opens
        _cache._writer.get().submit(lambda: gate.wait(30), 0)
    monkeypatch.setattr(_cache, "_INLINE_SECONDS", 60.0)  # quick again: no matter
    path = store(2)
    assert not path.exists()  # waiting for a writer
    gate.set()
    _cache.flush_pending()
    assert path.read_bytes() == b"copy 2"
    assert held[2]._fd == -1
