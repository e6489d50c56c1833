"""Listing containers: pages, prefixes, directories and what it costs."""

import time

import pytest
from _dataset_children import name_only
from _fault_proxy import Respond

from azstoragetorch._core._listing import PAGE_SIZE
from azstoragetorch.datasets import BlobDataset, IterableBlobDataset
from azstoragetorch.datasets._read_ahead import READ_AHEAD
from azstoragetorch.exceptions import BlobServiceError
from azstoragetorch.options import ClientOptions


@pytest.mark.slow
def test_the_map_dataset_lists_every_page_at_construction(many_blobs, recorder):
    dataset = BlobDataset.from_container_url(
        many_blobs.url, credential=many_blobs.credential, transform=name_only
    )
    listings = [r.url for r in recorder.requests if "comp=list" in r.url]
    assert len(listings) == 3 == len(recorder.requests)
    assert "marker=" not in listings[0]
    assert all("marker=" in url for url in listings[1:])
    assert f"maxresults={PAGE_SIZE}" in listings[0]
    assert len(dataset) == len(many_blobs.names)
    assert [dataset[i] for i in range(len(dataset))] == many_blobs.names
    assert dataset[-1] == many_blobs.names[-1]
    assert len(recorder.requests) == 3  # names need no request


@pytest.mark.slow
def test_the_iterable_dataset_lists_a_page_at_a_time_asking_one_ahead(many_blobs, recorder):
    dataset = IterableBlobDataset.from_container_url(
        many_blobs.url, credential=many_blobs.credential, transform=name_only
    )
    assert recorder.requests == []
    samples = iter(dataset)
    first = [next(samples) for _ in range(PAGE_SIZE - 2 * READ_AHEAD)]
    # The second page is asked for while the first is still in use, the third
    # only once the second is.
    deadline = time.monotonic() + 30
    while recorder.count("GET", "comp=list") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.count("GET", "comp=list") == 2
    rest = list(samples)
    assert recorder.count("GET", "comp=list") == 3
    assert first + rest == many_blobs.names
    # A transform that never reads stops the read-ahead after a few blobs.
    assert recorder.count("GET") - 3 <= 2 * READ_AHEAD


@pytest.mark.slow
def test_a_page_that_cannot_be_listed_raises_after_the_pages_before_it(many_blobs, proxy):
    options = ClientOptions(max_retries=1, retry_backoff=0.01, retry_backoff_max=0.05)
    proxy.inject(Respond(500), method="GET", query="comp=list", nth=(2, 3))
    dataset = IterableBlobDataset.from_container_url(
        proxy.url(many_blobs.url),
        credential=many_blobs.credential,
        transform=name_only,
        options=options,
    )
    got = []
    with pytest.raises(BlobServiceError, match="HTTP 500"):
        got.extend(dataset)
    assert got == many_blobs.names[:PAGE_SIZE]
    assert proxy.faults_fired == 2


@pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])
def test_a_prefix_selects_a_virtual_directory_by_plain_name_prefix(
    dataset_cls, blobs, container, key
):
    blobs({"a/1": b"", "a/b/2": b"", "ab": b"", "b/a/3": b"", "a": b""})

    def names(prefix):
        dataset = dataset_cls.from_container_url(
            container.url, prefix=prefix, credential=key, transform=name_only
        )
        return list(dataset)

    assert names("a/") == ["a/1", "a/b/2"]
    assert names("a") == ["a", "a/1", "a/b/2", "ab"]
    assert names("a/b/") == ["a/b/2"]
    assert names(None) == names("") == ["a", "a/1", "a/b/2", "ab", "b/a/3"]


@pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])
def test_directory_markers_are_not_samples(dataset_cls, container, key):
    # How an account with a hierarchical namespace lists its directories.
    marker = {"hdi_isfolder": "true"}
    container.client.upload_blob("images", b"", metadata=marker)
    container.client.upload_blob("images/cats", b"", metadata=marker)
    container.client.upload_blob("images/cats/1.png", b"png")
    container.client.upload_blob("images/readme", b"txt", metadata={"hdi_isfolder": "false"})
    dataset = dataset_cls.from_container_url(container.url, credential=key)
    assert [sample["data"] for sample in dataset] == [b"png", b"txt"]


def test_names_that_need_quoting_survive_listing_and_reading(blobs, container, key):
    names = ["dir/a b%23c+d.pt", "ü/日本語", "q?x=1", "hash#tag", "slash//y"]
    blobs({name: name.encode() for name in names})
    dataset = BlobDataset.from_container_url(container.url, credential=key)
    samples = {sample["data"].decode(): sample["url"] for sample in dataset}
    assert set(samples) == set(names)
    assert samples["dir/a b%23c+d.pt"] == f"{container.url}/dir/a%20b%2523c%2Bd.pt"
    assert samples["q?x=1"] == f"{container.url}/q%3Fx%3D1"
