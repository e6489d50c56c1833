"""Blob: names, properties (from the listing or the first read), reader()."""

import datetime
import os

import pytest
from _fixtures import random_bytes
from azure.storage.blob import ContentSettings

from azstoragetorch.datasets import Blob, BlobDataset, IterableBlobDataset
from azstoragetorch.io import BlobIO


@pytest.fixture
def png(container):
    container.client.upload_blob(
        "img/cat.png", b"\x89PNG data", content_settings=ContentSettings(content_type="image/png")
    )
    return container.client.get_blob_client("img/cat.png").get_blob_properties()


def only_blob(dataset):
    return dataset._blobs[0]


def test_names_and_url(png, container, key):
    blob = only_blob(BlobDataset.from_container_url(container.url, credential=key))
    assert isinstance(blob, Blob)
    assert blob.url == f"{container.url}/img/cat.png"
    assert blob.blob_name == "img/cat.png"
    assert blob.container_name == container.name
    assert repr(blob) == f"Blob('{container.url}/img/cat.png')"


def test_listed_properties_cost_no_request(png, container, key, recorder):
    blob = only_blob(BlobDataset.from_container_url(container.url, credential=key))
    listed = len(recorder.requests)
    assert blob.size == 9
    assert blob.etag == png.etag  # with quotes, as a HEAD reports it
    assert blob.last_modified == png.last_modified
    assert blob.last_modified.tzinfo is not None
    assert blob.content_type == "image/png"
    assert len(recorder.requests) == listed


def test_properties_of_a_url_blob_come_from_one_head(png, container, key, recorder):
    blob = only_blob(BlobDataset.from_blob_urls(f"{container.url}/img/cat.png", credential=key))
    assert recorder.requests == []
    assert (blob.size, blob.etag, blob.content_type) == (9, png.etag, "image/png")
    assert blob.last_modified == png.last_modified
    assert [r.method for r in recorder.requests] == ["HEAD"]


def test_properties_of_a_url_blob_after_reading_cost_nothing_more(png, container, key, recorder):
    blob = only_blob(BlobDataset.from_blob_urls(f"{container.url}/img/cat.png", credential=key))
    with blob.reader() as f:
        assert f.read() == b"\x89PNG data"
    assert (blob.size, blob.etag, blob.content_type) == (9, png.etag, "image/png")
    assert isinstance(blob.last_modified, datetime.datetime)
    assert [r.method for r in recorder.requests] == ["GET"]


@pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])
def test_a_transform_reading_properties_while_reading_ahead_sends_no_head(
    dataset_cls, blobs, key, recorder
):
    urls = blobs({f"b{index}": b"x" * index for index in range(12)})

    def sizes(blob):
        return blob.size, blob.etag.startswith('"')

    dataset = dataset_cls.from_blob_urls(urls, credential=key, transform=sizes)
    samples = dataset.__getitems__(list(range(12))) if dataset_cls is BlobDataset else list(dataset)
    assert samples == [(index, True) for index in sorted(range(12), key=lambda i: f"b{i}")]
    assert recorder.count("HEAD") == 0


def test_reader_is_a_blob_io_on_the_shared_pipeline(png, container, key):
    dataset = BlobDataset.from_container_url(container.url, credential=key)
    first, again = dataset._blobs[0], dataset._blobs[0]
    with first.reader() as f, again.reader() as g:
        assert isinstance(f, BlobIO)
        assert f.seek(-4, os.SEEK_END) == 5
        assert f.read() == b"data"
        assert g.read(4) == b"\x89PNG"
        assert f._reader._client._pipeline is g._reader._client._pipeline


def test_each_call_to_reader_opens_a_new_reader(png, container, key):
    blob = only_blob(BlobDataset.from_container_url(container.url, credential=key))
    with blob.reader() as f:
        f.read()
    with blob.reader() as f:
        assert f.read() == b"\x89PNG data"


@pytest.mark.slow
@pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])
def test_blobs_larger_than_the_read_window(dataset_cls, blobs, key):
    data = random_bytes(20 * 1024 * 1024 + 3, seed=4)
    urls = blobs({"big": data, "small": b"s"})
    dataset = dataset_cls.from_blob_urls(urls, credential=key)
    samples = [dataset[0], dataset[1]] if dataset_cls is BlobDataset else list(dataset)
    assert [sample["data"] for sample in samples] == [data, b"s"]


def test_a_snapshot_url_reads_the_snapshot(container, upload, key):
    url = upload("versioned", b"old")
    snapshot = container.client.get_blob_client("versioned").create_snapshot()["snapshot"]
    upload("versioned", b"new")
    dataset = BlobDataset.from_blob_urls([f"{url}?snapshot={snapshot}", url], credential=key)
    assert [sample["data"] for sample in dataset] == [b"old", b"new"]
    assert dataset[0]["url"] == url
