"""Datasets read through injected faults yield exactly the blobs' bytes, or raise."""

from __future__ import annotations

import pytest
from _fault_proxy import Reset, ResetMidBody, Respond, Stall, Truncate
from _fixtures import random_bytes
from _reliability import FAST, STALL_S, sha
from torch.utils.data import DataLoader

from azstoragetorch.datasets import Blob, BlobDataset, IterableBlobDataset
from azstoragetorch.exceptions import BlobServiceError

pytestmark = [pytest.mark.usefixtures("no_leaks"), pytest.mark.timeout(60)]

DATASETS = pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])
CONTENTS = {
    f"set/{index:02d} #{index}": random_bytes(20_000 + index, seed=index) for index in range(20)
}
EXPECTED = {name: sha(data) for name, data in CONTENTS.items()}
FAULTS = {
    "500": Respond(500),
    "503": Respond(503),
    "429": Respond(429),
    "reset-before-response": Reset(),
    "reset-mid-body": ResetMidBody(after=4000),
    "truncated-body": Truncate(after=6000),
    "stall-before-response": Stall(STALL_S),
    "stall-mid-body": Stall(STALL_S, after=2000),
}


def name_and_hash(blob: Blob) -> tuple[str, str]:
    with blob.reader() as f:
        return blob.blob_name, sha(f.read())


@pytest.fixture
def container_url(container, proxy):  # type: ignore[no-untyped-def]
    for name, data in CONTENTS.items():
        container.client.upload_blob(name, data)
    return proxy.url(container.url)


def samples(dataset_cls, container_url, key):  # type: ignore[no-untyped-def]
    dataset = dataset_cls.from_container_url(
        container_url, credential=key, transform=name_and_hash, options=FAST
    )
    # Batches of 8 make the map-style dataset read each batch in parallel.
    return [
        sample for batch in DataLoader(dataset, batch_size=8) for sample in zip(*batch, strict=True)
    ]


@DATASETS
@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_datasets_through_transient_faults_yield_every_blob_exactly(
    dataset_cls, proxy, container_url, key, fault
):
    proxy.inject(fault, method="GET", query="comp=list", nth=1)
    proxy.inject(fault, method="GET", ranged=True, nth=(2, 5, 11))
    got = samples(dataset_cls, container_url, key)
    assert len(got) == len(EXPECTED)
    assert dict(got) == EXPECTED
    assert proxy.faults_fired == 4


@DATASETS
@pytest.mark.parametrize(
    "fault", [Respond(503), Reset(), Truncate(after=6000)], ids=["503", "reset", "truncated"]
)
def test_a_blob_that_cannot_be_read_raises_a_service_error_naming_it(
    dataset_cls, proxy, container_url, key, fault
):
    proxy.inject(fault, method="GET", path="set/07 #7")
    with pytest.raises(BlobServiceError, match="set/07%20%237"):
        samples(dataset_cls, container_url, key)
    assert proxy.faults_fired >= FAST.max_retries + 1


@DATASETS
def test_a_listing_that_keeps_failing_raises_a_service_error_naming_the_container(
    dataset_cls, proxy, container, container_url, key
):
    proxy.inject(Respond(500), method="GET", query="comp=list")
    with pytest.raises(BlobServiceError, match=f"{container.name}.*HTTP 500") as caught:
        samples(dataset_cls, container_url, key)
    assert caught.value.status_code == 500
    assert proxy.faults_fired == FAST.max_retries + 1
