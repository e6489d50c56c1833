"""The datasets' local cache (``cache_dir=``), against Azurite.

Requests are counted at the transport seam: a warm epoch of a listed dataset sends
nothing but the listing, and a dataset of URLs one conditional GET per blob.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import subprocess
import warnings
from pathlib import Path

import _dataset_children
import pytest
from _fixtures import container_sas, random_bytes
from torch.utils.data import DataLoader

from azstoragetorch.datasets import BlobDataset, IterableBlobDataset
from azstoragetorch.datasets._cache import flush_pending
from azstoragetorch.io import BlobIO

pytestmark = pytest.mark.azurite

DATASETS = pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])


def epoch(dataset):
    """One epoch's samples, as (URL, data) pairs, once the copies are all written
    (small blobs' copies are written by a thread of the cache, after the sample)."""
    if isinstance(dataset, BlobDataset):
        samples = dataset.__getitems__(list(range(len(dataset))))
    else:
        samples = list(dataset)
    flush_pending()
    return [(sample["url"], sample["data"]) for sample in samples]


def copies(cache_dir):
    """The cache's files: blob copies and their index files (not locks or temporaries)."""
    return sorted(p for p in Path(cache_dir).iterdir() if not p.name.startswith("."))


def non_list_requests(recorder):
    return [r for r in recorder.requests if "comp=list" not in r.url]


@pytest.fixture
def contents():
    return {f"b{index:02}": random_bytes(1024 + index, seed=index) for index in range(12)}


@DATASETS
def test_a_warm_epoch_sends_only_listing_requests(
    dataset_cls, blobs, contents, container, key, tmp_path, recorder
):
    blobs(contents)
    cache_dir = tmp_path / "cache"
    dataset = dataset_cls.from_container_url(container.url, credential=key, cache_dir=cache_dir)
    expected = [(f"{container.url}/{name}", data) for name, data in sorted(contents.items())]
    assert epoch(dataset) == expected
    assert len(non_list_requests(recorder)) == len(contents)
    assert len(copies(cache_dir)) == len(contents)

    recorder.requests.clear()
    assert epoch(dataset) == expected
    assert non_list_requests(recorder) == []
    listings = recorder.count("GET", "comp=list")
    assert listings == (1 if dataset_cls is IterableBlobDataset else 0)


@DATASETS
def test_a_changed_blob_is_fetched_again_never_served_stale(
    dataset_cls, blobs, contents, container, key, tmp_path, recorder
):
    blobs(contents)
    cache_dir = tmp_path / "cache"
    first = dataset_cls.from_container_url(container.url, credential=key, cache_dir=cache_dir)
    epoch(first)
    container.client.upload_blob("b03", b"new content", overwrite=True)

    recorder.requests.clear()
    again = dataset_cls.from_container_url(container.url, credential=key, cache_dir=cache_dir)
    samples = dict(epoch(again))
    assert samples[f"{container.url}/b03"] == b"new content"
    assert [r.url.rsplit("/", 1)[1] for r in non_list_requests(recorder)] == ["b03"]
    # The old copy stays until evicted, under its old ETag's name; the new is added.
    assert len(copies(cache_dir)) == len(contents) + 1


@DATASETS
def test_blobs_by_url_are_validated_with_one_conditional_get_each(
    dataset_cls, blobs, contents, key, tmp_path, recorder
):
    urls = blobs(contents)
    cache_dir = tmp_path / "cache"
    dataset = dataset_cls.from_blob_urls(urls, credential=key, cache_dir=cache_dir)
    expected = [(url, contents[url.rsplit("/", 1)[1]]) for url in urls]
    assert epoch(dataset) == expected
    recorder.requests.clear()

    assert epoch(dataset) == expected
    assert len(recorder.requests) == len(urls)
    assert all(r.method == "GET" and "If-None-Match" in r.headers for r in recorder.requests)
    assert all("x-ms-range" not in r.headers for r in recorder.requests)


def test_a_changed_blob_by_url_is_read_from_the_conditional_get(
    blobs, contents, container, key, tmp_path, recorder
):
    urls = blobs(contents)
    cache_dir = tmp_path / "cache"

    def to_sample(blob):
        with blob.reader() as f:
            return blob.etag, blob.content_type, f.read()

    dataset = BlobDataset.from_blob_urls(
        urls[:2], credential=key, cache_dir=cache_dir, transform=to_sample
    )
    old_etag = dataset[1][0]
    flush_pending()
    container.client.upload_blob("b01", b"changed", overwrite=True)
    recorder.requests.clear()
    etag, content_type, data = dataset[1]
    assert data == b"changed"
    assert etag != old_etag
    assert etag == container.client.get_blob_client("b01").get_blob_properties().etag
    assert content_type == "application/octet-stream"
    assert len(recorder.requests) == 1  # the conditional GET brought the new content
    flush_pending()
    recorder.requests.clear()
    assert dataset[1] == (etag, content_type, b"changed")
    assert len(recorder.requests) == 1  # and that is now the copy: 304


def test_properties_of_a_validated_copy_cost_no_head(blobs, contents, key, tmp_path, recorder):
    urls = blobs(contents)
    dataset = BlobDataset.from_blob_urls(urls[:1], credential=key, cache_dir=tmp_path / "c")
    epoch(dataset)
    recorder.requests.clear()
    seen = {}

    def properties(blob):
        with blob.reader() as f:
            seen["data"] = f.read()
        return blob.size, blob.content_type

    dataset._transform = properties
    assert dataset[0] == (len(contents["b00"]), "application/octet-stream")
    assert recorder.count("HEAD") == 0
    assert len(recorder.requests) == 1


def test_eviction_keeps_the_directory_under_the_bound(blobs, container, key, tmp_path):
    contents = {f"e{index:02}": random_bytes(4096, seed=index) for index in range(24)}
    blobs(contents)
    cache_dir = tmp_path / "cache"
    bound = 10 * 4096 + 100
    dataset = IterableBlobDataset.from_container_url(
        container.url, credential=key, cache_dir=cache_dir, cache_max_bytes=bound
    )
    for _ in range(2):
        assert dict(epoch(dataset)) == {
            f"{container.url}/{name}": data for name, data in contents.items()
        }
        stored = copies(cache_dir)
        assert sum(p.stat().st_size for p in stored) <= bound
        assert 0 < len(stored) <= 10


def test_a_blob_larger_than_the_bound_is_read_but_not_stored(blobs, container, key, tmp_path):
    blobs({"big": b"x" * 5000, "small": b"y" * 10})
    cache_dir = tmp_path / "cache"
    dataset = BlobDataset.from_container_url(
        container.url, credential=key, cache_dir=cache_dir, cache_max_bytes=1000
    )
    assert [data for _, data in epoch(dataset)] == [b"x" * 5000, b"y" * 10]
    assert [p.stat().st_size for p in copies(cache_dir)] == [10]


def test_a_large_blob_is_stored_and_read_back_mapped(upload, container, key, tmp_path, recorder):
    data = random_bytes(17 * 1024 * 1024 + 3)  # over the 16 MiB read into memory on a hit
    upload("large.bin", data)
    dataset = BlobDataset.from_container_url(container.url, credential=key, cache_dir=tmp_path)
    blob = dataset._blobs[0]
    with blob.reader() as f:
        assert f.read() == data
    recorder.requests.clear()
    with dataset._blobs[0].reader() as f:
        assert isinstance(f, BlobIO)
        f.seek(-3, os.SEEK_END)
        assert f.read() == data[-3:]
        f.seek(1000)
        view = bytearray(100)
        assert f.readinto(view) == 100
        assert bytes(view) == data[1000:1100]
    assert recorder.requests == []


def test_a_truncated_copy_is_not_served(blobs, contents, container, key, tmp_path, recorder):
    blobs(contents)
    cache_dir = tmp_path / "cache"
    dataset = BlobDataset.from_container_url(container.url, credential=key, cache_dir=cache_dir)
    epoch(dataset)
    for path in copies(cache_dir):
        path.write_bytes(path.read_bytes()[:10])
    recorder.requests.clear()
    assert [data for _, data in epoch(dataset)] == [contents[name] for name in sorted(contents)]
    assert len(recorder.requests) == len(contents)


def test_reader_takes_its_own_cache(blobs, contents, container, key, tmp_path, recorder):
    blobs(contents)
    dataset = BlobDataset.from_container_url(container.url, credential=key)
    blob = dataset._blobs[2]
    with blob.reader(cache_dir=tmp_path / "mine", cache_max_bytes=10**6) as f:
        assert f.read() == contents["b02"]
    flush_pending()
    recorder.requests.clear()
    with dataset._blobs[2].reader(cache_dir=tmp_path / "mine", cache_max_bytes=10**6) as f:
        assert isinstance(f, BlobIO)
        assert f.name == f"{container.url}/b02"
        assert f.readline() == contents["b02"].split(b"\n")[0] + (
            b"\n" if b"\n" in contents["b02"] else b""
        )
    assert recorder.requests == []
    with dataset._blobs[2].reader() as f:  # without: the dataset's (no) cache
        assert f.read() == contents["b02"]
    assert len(recorder.requests) == 1


def test_the_cache_directory_is_created_with_mode_0700(blobs, contents, container, key, tmp_path):
    blobs(contents)
    cache_dir = tmp_path / "a" / "cache"
    old = os.umask(0o022)
    try:
        dataset = IterableBlobDataset.from_container_url(
            container.url, credential=key, cache_dir=str(cache_dir)
        )
    finally:
        os.umask(old)
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    epoch(dataset)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in copies(cache_dir))


@DATASETS
def test_no_sas_goes_into_the_cache(dataset_cls, azurite, blobs, contents, container, tmp_path):
    urls = blobs(contents)
    sas = container_sas(azurite, container.name, "rl")
    signature = sas.split("sig=")[1].split("&")[0]
    cache_dir = tmp_path / "cache"
    listed = dataset_cls.from_container_url(
        f"{container.url}?{sas}", credential=False, cache_dir=cache_dir
    )
    by_url = dataset_cls.from_blob_urls(
        [f"{url}?{sas}" for url in urls], credential=False, cache_dir=cache_dir
    )
    assert epoch(listed) == epoch(by_url)
    epoch(by_url)
    names = [str(p.relative_to(cache_dir)) for p in cache_dir.rglob("*")]
    assert len(copies(cache_dir)) == 2 * len(contents)  # the copies and the URL indexes
    for name in names:
        assert "sig" not in name
        assert signature not in name
    for path in copies(cache_dir):
        if path.suffix == ".json":
            text = path.read_text()
            assert "sig" not in text
            assert signature not in text
            assert set(json.loads(text)) == {"etag", "size", "last_modified", "content_type"}


def test_two_processes_filling_one_cache_fetch_each_blob_once(azurite, blobs, container, tmp_path):
    contents = {f"p{index:02}": random_bytes(2048, seed=index) for index in range(40)}
    blobs(contents)
    cache_dir = tmp_path / "cache"
    out = tmp_path / "out"
    out.mkdir()
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    children = [
        context.Process(
            target=_dataset_children.fill_cache,
            args=(
                container.url,
                azurite.account_name,
                azurite.account_key,
                str(cache_dir),
                str(out / f"{index}.json"),
                start,
            ),
        )
        for index in range(2)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    results = [json.loads((out / f"{index}.json").read_text()) for index in range(2)]
    expected = {name: data.hex() for name, data in contents.items()}
    for result in results:
        assert result["samples"] == expected
    # Between them, every blob was fetched exactly once; the other process read the copy.
    assert sum(result["gets"] for result in results) == len(contents)
    assert len(copies(cache_dir)) == len(contents)


def _unwritable(path):
    """Make the directory ``path`` refuse new files, even to root (immutable)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o500)


def _writable(path):
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o700)


@DATASETS
def test_an_unwritable_cache_dir_means_no_cache_and_one_warning(
    dataset_cls, blobs, contents, container, key, tmp_path
):
    blobs(contents)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    _unwritable(cache_dir)
    try:
        with pytest.warns(RuntimeWarning, match="cannot be used") as caught:
            dataset = dataset_cls.from_container_url(
                container.url, credential=key, cache_dir=cache_dir
            )
        assert len(caught) == 1
        assert caught[0].filename == __file__  # points at the factory's caller
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no more warnings while reading
            for _ in range(2):
                assert [data for _, data in epoch(dataset)] == [
                    contents[name] for name in sorted(contents)
                ]
        assert list(cache_dir.iterdir()) == []
    finally:
        _writable(cache_dir)


@DATASETS
def test_a_cache_that_fails_mid_epoch_warns_once_and_reads_on(
    dataset_cls, blobs, contents, container, key, tmp_path
):
    blobs(contents)
    cache_dir = tmp_path / "cache"
    dataset = dataset_cls.from_container_url(container.url, credential=key, cache_dir=cache_dir)
    _unwritable(cache_dir)  # as a full disk would, every new file now fails
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                assert [data for _, data in epoch(dataset)] == [
                    contents[name] for name in sorted(contents)
                ]
        assert [str(w.message) for w in caught if w.category is RuntimeWarning] == [
            f"The blob cache in {str(cache_dir)!r} stopped storing copies: Operation not "
            "permitted. Blobs are read from storage from now on in this process; copies "
            "already stored are still used."
            if os.geteuid() == 0
            else f"The blob cache in {str(cache_dir)!r} stopped storing copies: Permission "
            "denied. Blobs are read from storage from now on in this process; copies "
            "already stored are still used."
        ]
        assert copies(cache_dir) == []
    finally:
        _writable(cache_dir)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_dataloader_workers_fill_the_cache_before_they_exit(
    method, blobs, contents, container, key, tmp_path
):
    blobs(contents)
    cache_dir = tmp_path / "cache"
    dataset = IterableBlobDataset.from_container_url(
        container.url,
        credential=key,
        cache_dir=cache_dir,
        transform=_dataset_children.name_and_data,
    )
    expected = sorted(contents.items())
    for _ in range(2):
        loader = DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context=method)
        assert sorted(tuple(sample) for sample in loader) == expected
        # The workers have exited: every copy they fetched is in place.
        assert len(copies(cache_dir)) == len(contents)
        assert not [p for p in cache_dir.iterdir() if p.name.startswith(".tmp-")]
