"""What goes wrong, and how it is reported."""

import pytest
from _fixtures import container_sas
from torch.utils.data import DataLoader

from azstoragetorch._core import _shared_transport
from azstoragetorch.datasets import BlobDataset, IterableBlobDataset
from azstoragetorch.exceptions import BlobNotFoundError

DATASETS = pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])


def every_sample(dataset):
    if isinstance(dataset, BlobDataset):
        return [dataset[index] for index in range(len(dataset))]
    return list(dataset)


def signature(sas):
    return sas.split("sig=")[1].split("&")[0]


@DATASETS
def test_a_missing_container_is_reported_by_name(dataset_cls, azurite, key):
    url = f"{azurite.blob_endpoint}/no-such-container"
    with pytest.raises(BlobNotFoundError) as caught:
        every_sample(dataset_cls.from_container_url(url, credential=key))
    assert f"container '{url}'" in str(caught.value)
    assert "does not exist" in str(caught.value)
    assert caught.value.error_code == "ContainerNotFound"


def test_the_map_dataset_reports_a_missing_container_when_created(azurite, key, recorder):
    with pytest.raises(BlobNotFoundError, match="no-such-container"):
        BlobDataset.from_container_url(f"{azurite.blob_endpoint}/no-such-container", credential=key)


@DATASETS
@pytest.mark.parametrize("prefix", [None, "nothing/"])
def test_an_empty_listing_is_an_empty_dataset(dataset_cls, prefix, container, key):
    if prefix:
        container.client.upload_blob("other/blob", b"x")
    dataset = dataset_cls.from_container_url(container.url, prefix=prefix, credential=key)
    assert every_sample(dataset) == []
    assert list(DataLoader(dataset, batch_size=4)) == []
    if dataset_cls is BlobDataset:
        assert len(dataset) == 0


class DeleteAfterListing:
    """A transport that deletes a blob as soon as a listing response has arrived."""

    def __init__(self, inner, container, name):
        self._inner, self._container, self._name = inner, container, name

    def send(self, request, **kwargs):
        response = self._inner.send(request, **kwargs)
        if "comp=list" in request.url:
            self._container.client.delete_blob(self._name)
        return response


@DATASETS
@pytest.mark.parametrize("batched", [False, True])
def test_a_blob_deleted_after_listing_is_reported_by_name(
    dataset_cls, batched, blobs, container, key, monkeypatch
):
    blobs({"a": b"1", "b": b"2", "c": b"3"})
    deleting = DeleteAfterListing(_shared_transport.shared_transport(), container, "b")
    monkeypatch.setattr(_shared_transport, "shared_transport", lambda: deleting)
    dataset = dataset_cls.from_container_url(container.url, credential=key)
    loader = DataLoader(dataset, batch_size=3 if batched else None)
    with pytest.raises(BlobNotFoundError) as caught:
        list(loader)
    assert f"blob '{container.url}/b'" in str(caught.value)
    assert caught.value.error_code == "BlobNotFound"


@DATASETS
def test_a_missing_blob_url_is_reported_by_name(dataset_cls, container, key):
    dataset = dataset_cls.from_blob_urls(f"{container.url}/missing", credential=key)
    with pytest.raises(BlobNotFoundError, match=f"blob '{container.url}/missing'"):
        every_sample(dataset)


class TransformError(Exception):
    pass


@DATASETS
@pytest.mark.parametrize("batched", [False, True])
def test_an_exception_of_the_transform_propagates_unchanged(
    dataset_cls, batched, blobs, container, key
):
    blobs({f"b{index}": b"x" for index in range(10)})
    raised = TransformError("bad blob")

    def transform(blob):
        if blob.blob_name == "b4":
            raise raised
        with blob.reader() as f:
            return f.read()

    dataset = dataset_cls.from_container_url(container.url, credential=key, transform=transform)
    with pytest.raises(TransformError) as caught:
        list(DataLoader(dataset, batch_size=5 if batched else None))
    assert caught.value is raised


def test_a_transform_may_catch_a_read_error_and_carry_on(blobs, container, key):
    blobs({"a": b"1", "b": b"2", "c": b"3"})

    def tolerant(blob):
        try:
            with blob.reader() as f:
                return f.read()
        except FileNotFoundError:
            return None

    dataset = BlobDataset.from_container_url(container.url, credential=key, transform=tolerant)
    container.client.delete_blob("b")
    assert dataset.__getitems__([0, 1, 2]) == [b"1", None, b"3"]


@DATASETS
def test_a_container_sas_applies_to_every_blob_and_never_shows(
    dataset_cls, azurite, blobs, container
):
    blobs({"a": b"1", "b": b"2"})
    sas = container_sas(azurite, container.name, "rl")
    # No credential: the SAS alone authorises listing and reading, over http.
    dataset = dataset_cls.from_container_url(f"{container.url}?{sas}")
    samples = every_sample(dataset)
    assert samples == [
        {"url": f"{container.url}/a", "data": b"1"},
        {"url": f"{container.url}/b", "data": b"2"},
    ]
    blob = next(iter(dataset._blobs))
    for text in (repr(dataset), repr(blob), blob.url, repr(samples)):
        assert signature(sas) not in text
    missing = dataset_cls.from_blob_urls(f"{container.url}/gone?{sas}")
    with pytest.raises(BlobNotFoundError) as caught:
        every_sample(missing)
    assert f"{container.url}/gone" in str(caught.value)
    assert signature(sas) not in str(caught.value)
    assert signature(sas) not in repr(caught.value)


def test_a_missing_container_with_a_sas_is_named_without_it(azurite, container):
    sas = container_sas(azurite, container.name, "rl")
    container.client.delete_container()
    with pytest.raises(BlobNotFoundError) as caught:
        BlobDataset.from_container_url(f"{container.url}?{sas}")
    assert container.url in str(caught.value)
    assert signature(sas) not in str(caught.value)
