"""The cache's arguments, names and eviction, without storage."""

import multiprocessing
import os
import pickle
import signal
import stat
import threading
import time
import warnings
from pathlib import Path

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
    version = BlobURL.parse(f"{CONTAINER}/dir/a.bin?versionid=2025-01-01T00:00:00Z")
    listed = BlobURL.parse(CONTAINER).blob("dir/a.bin")  # as a container listing makes it
    key = cache.key(plain)
    assert key == cache.key(signed) == cache.key(listed)  # one copy whatever the credential
    keys = {key, cache.key(snapshot), cache.key(version)}
    keys.add(cache.key(BlobURL.parse(f"{CONTAINER}/dir/b.bin")))
    keys.add(cache.key(BlobURL.parse("http://127.0.0.1:1/devstoreaccount2/c/dir/a.bin")))
    assert len(keys) == 5
    name = cache.entry_name(key, '"0x1"')
    for made in [key, name]:
        assert len(made) == 40
        assert all(c in "0123456789abcdef" for c in made)
    assert cache.entry_name(key, '"0x2"') != name
    assert cache.entry_name(cache.key(snapshot), '"0x1"') != name
    assert cache.index_name(key) == key + ".json"


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
    url = cache.key(BlobURL.parse(f"{CONTAINER}/a"))
    held = cache.lock(url)
    cache.lock(cache.key(BlobURL.parse(f"{CONTAINER}/b"))).release()  # another blob: no wait
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
    url = cache.key(BlobURL.parse(f"{CONTAINER}/a"))
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


def test_a_quick_directory_gets_copies_in_place_and_a_slow_one_through_the_writers(
    tmp_path, monkeypatch
):
    from azstoragetorch.datasets import _cache

    monkeypatch.setattr(_cache, "_QUICK_SECONDS", 60.0)  # any write is quick
    quick = check_cache(tmp_path / "quick", None)
    monkeypatch.setattr(_cache, "_QUICK_SECONDS", 0.0)  # no write is
    slow = check_cache(tmp_path / "slow", None)
    assert quick is not None
    assert slow is not None
    assert (quick.quick, slow.quick) == (True, False)
    assert os.listdir(tmp_path / "slow") == [".lock"]  # the timed files are gone
    # The decision travels with the cache: a process that unpickles it (one with
    # no cache of its own yet) does not time the directory again.
    monkeypatch.setattr(_cache, "_registry", _cache.ProcessLocal(_cache._Registry))
    monkeypatch.setattr(_cache, "_QUICK_SECONDS", 60.0)
    assert pickle.loads(pickle.dumps(slow)).quick is False
    assert pickle.loads(pickle.dumps(quick)).quick is True

    def store(cache, number, content):
        key = cache.key(BlobURL.parse(f"{CONTAINER}/copies/{number}"))
        lock = cache.lock(key)
        cache.store_later(cache.entry_name(key, '"0x1"'), content, lock)
        return lock, Path(cache.directory) / cache.entry_name(key, '"0x1"')

    # Quick: written, and the blob's lock released, before store_later returns.
    lock, path = store(quick, 0, memoryview(b"copy 0"))
    assert path.read_bytes() == b"copy 0"
    assert lock._fd == -1
    # Slow: the writer threads write it; a borrowed buffer is copied first, so its
    # owner may reuse it as soon as store_later returns.
    gate = threading.Event()
    for _ in range(_cache._WRITERS):  # every writer busy until the gate opens
        _cache._writer.get().submit(lambda: gate.wait(30), 0)
    buffer = bytearray(b"copy 1")
    lock, path = store(slow, 1, memoryview(buffer))
    buffer[:] = b"reused"
    assert not path.exists()  # waiting for a writer
    assert lock._fd != -1  # and holding the blob's lock until written
    gate.set()
    _cache.flush_pending()
    assert path.read_bytes() == b"copy 1"
    assert lock._fd == -1


def test_a_write_in_place_that_stalls_hands_later_copies_to_the_writers(tmp_path, monkeypatch):
    from azstoragetorch.datasets import _cache

    monkeypatch.setattr(_cache, "_QUICK_SECONDS", 60.0)
    cache = check_cache(tmp_path, None)
    assert cache is not None
    assert cache.quick
    keys = [cache.key(BlobURL.parse(f"{CONTAINER}/s/{n}")) for n in range(3)]
    names = [cache.entry_name(key, '"0x1"') for key in keys]
    cache.store_later(names[0], b"first", _cache.Lock(-1))
    assert (tmp_path / names[0]).read_bytes() == b"first"
    monkeypatch.setattr(_cache, "_STALL_SECONDS", 0.0)  # every write stalls from now on
    cache.store_later(names[1], b"second", _cache.Lock(-1))
    assert (tmp_path / names[1]).read_bytes() == b"second"  # still written in place
    gate = threading.Event()
    for _ in range(_cache._WRITERS):
        _cache._writer.get().submit(lambda: gate.wait(30), 0)
    monkeypatch.setattr(_cache, "_STALL_SECONDS", 60.0)  # quick again: no matter
    cache.store_later(names[2], b"third", _cache.Lock(-1))
    assert not (tmp_path / names[2]).exists()  # left to the writers
    gate.set()
    _cache.flush_pending()
    assert (tmp_path / names[2]).read_bytes() == b"third"


def test_lock_descriptors_are_reused_and_a_forked_child_closes_them(tmp_path):
    cache = check_cache(tmp_path, None)
    assert cache is not None
    keys = [cache.key(BlobURL.parse(f"{CONTAINER}/fd/{n}")) for n in range(3)]
    first = cache.lock(keys[0])
    fd = first._fd
    first.release()
    again = cache.lock(keys[1])
    assert again._fd == fd  # the released descriptor, not a new open of .lock
    other = cache.lock(keys[2])  # held at the same time: an open of its own
    other_fd = other._fd
    assert other_fd not in (-1, fd)
    other.release()
    again.release()
    spare = list(cache._state.get().spare_lock_fds)
    assert sorted(spare) == sorted([fd, other_fd])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # The parent's descriptors are closed here, and the child opens its own.
            closed = all(_is_closed(spare_fd) for spare_fd in spare)
            signal.alarm(30)
            cache.lock(keys[0]).release()
            code = 0 if closed else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _is_closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def test_making_room_does_not_count_as_a_stalled_write(tmp_path, monkeypatch):
    from azstoragetorch.datasets import _cache

    monkeypatch.setattr(_cache, "_QUICK_SECONDS", 60.0)
    cache = check_cache(tmp_path, 10**9)
    assert cache is not None
    # A scan of a large directory before the write, longer than a stall.
    monkeypatch.setattr(cache, "_make_room", lambda size: time.sleep(2 * _cache._STALL_SECONDS))
    name = cache.entry_name(cache.key(BlobURL.parse(f"{CONTAINER}/room")), '"0x1"')
    cache.store_later(name, b"copy", _cache.Lock(-1))
    assert (tmp_path / name).read_bytes() == b"copy"
    assert not cache._state.get().stalled


def test_a_process_that_only_misses_looks_under_the_lock_alone_until_a_hit(tmp_path):
    from azstoragetorch.datasets import _cache

    cache = check_cache(tmp_path, None)
    assert cache is not None
    assert not cache.filling()
    for _ in range(_cache._MISSES_BEFORE_SKIPPING - 1):
        cache.looked(False)
    assert not cache.filling()
    cache.looked(False)
    assert cache.filling()
    # A copy found under a lock (stored by another process, or a warm epoch):
    # looking before the lock pays again.
    cache.looked(True)
    assert not cache.filling()
