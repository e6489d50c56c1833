"""Reading through injected faults returns exactly the blob's bytes, or a clear error."""

from __future__ import annotations

import dataclasses
import io
import time

import pytest
import torch
from _fault_proxy import Before, ResetMidBody, Respond, Stall, Truncate
from _fixtures import random_bytes
from _reliability import FAST, STALL_S, TRANSIENT_ANY_REQUEST, sha
from azure.storage.blob import BlobClient as SDKBlobClient

from azstoragetorch.exceptions import BlobModifiedError, BlobServiceError
from azstoragetorch.io import BlobIO

pytestmark = [pytest.mark.usefixtures("no_leaks"), pytest.mark.timeout(60)]

KIB = 1024
# Small windows and parts: a 256 KiB blob takes an opening GET, background
# prefetches and parallel ranged GETs, so a fault on "the third GET" lands mid-read.
SMALL = dataclasses.replace(FAST, read_ahead=16 * KIB, part_size=48 * KIB)
DATA = random_bytes(256 * KIB, seed=61) + b"".join(b"line %d\n" % i for i in range(2000))

# Faults a reader must ride out. Each hits the first GET (the one that opens the
# reader and learns the ETag) and the third (a later window or part).
TRANSIENT = {
    **TRANSIENT_ANY_REQUEST,
    "reset-mid-body": ResetMidBody(after=5000),
    "truncated-body": Truncate(after=7000),
    "stall-mid-body": Stall(STALL_S, after=3000),
}


def read_all(f: BlobIO) -> bytes:
    return f.read()


def readinto_all(f: BlobIO) -> bytes:
    buffer = bytearray(len(DATA) + 10)
    count = f.readinto(buffer)
    return bytes(buffer[:count])


def readlines_all(f: BlobIO) -> bytes:
    return b"".join(iter(f.readline, b""))


OPERATIONS = {"read": read_all, "readinto": readinto_all, "readline": readlines_all}


@pytest.fixture
def azurite_url(container):  # type: ignore[no-untyped-def]
    container.client.upload_blob("data/faulty #1.bin", DATA)
    return f"{container.url}/data/faulty%20%231.bin"


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_reads_through_transient_faults_return_exactly_the_blobs_bytes(
    proxy, azurite_url, key, fault, operation
):
    proxy.inject(fault, method="GET", path="faulty #1.bin", nth=(1, 3))
    started = time.monotonic()
    with BlobIO(proxy.url(azurite_url), "rb", credential=key, options=SMALL) as f:
        assert sha(operation(f)) == sha(DATA)
    assert proxy.faults_fired == 2
    if isinstance(fault, Respond) and fault.retry_after:
        # The service's Retry-After is honoured over the (tiny) backoff.
        assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_torch_load_through_transient_faults_returns_the_saved_tensors(
    proxy, container, key, fault
):
    tensors = {
        f"layer{i}": torch.randn(64, 64, generator=torch.Generator().manual_seed(i))
        for i in range(8)
    }
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    container.client.upload_blob("model.pt", buffer.getvalue())
    proxy.inject(fault, method="GET", path="model.pt", nth=(1, 3))
    with BlobIO(
        proxy.url(f"{container.url}/model.pt"),
        "rb",
        credential=key,
        options=SMALL,
    ) as f:
        loaded = torch.load(f, weights_only=True)
    assert loaded.keys() == tensors.keys()
    assert all(torch.equal(loaded[name], tensors[name]) for name in tensors)
    assert proxy.faults_fired == 2


def overwrite(azurite, container_name: str, blob_name: str, data: bytes):  # type: ignore[no-untyped-def]
    """A callback for the proxy: another writer replaces the blob (not via the proxy)."""

    def _overwrite() -> None:
        with SDKBlobClient.from_connection_string(
            azurite.connection_string, container_name, blob_name
        ) as client:
            client.upload_blob(data, overwrite=True)

    return _overwrite


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
@pytest.mark.parametrize("nth", [2, 3, 4])
def test_a_blob_overwritten_mid_read_raises_blob_modified_error(
    proxy, azurite, container, azurite_url, key, operation, nth
):
    replacement = random_bytes(len(DATA), seed=62)
    proxy.inject(
        Before(overwrite(azurite, container.name, "data/faulty #1.bin", replacement)),
        method="GET",
        path="faulty #1.bin",
        nth=nth,
    )
    with BlobIO(proxy.url(azurite_url), "rb", credential=key, options=SMALL) as f:
        with pytest.raises(BlobModifiedError, match="was modified while it was being read"):
            operation(f)
    assert proxy.faults_fired == 1


def test_torch_load_of_a_checkpoint_overwritten_mid_read_raises_blob_modified_error(
    proxy, azurite, container, key
):
    buffer = io.BytesIO()
    torch.save({"w": torch.arange(100_000)}, buffer)
    container.client.upload_blob("model.pt", buffer.getvalue())
    proxy.inject(
        Before(overwrite(azurite, container.name, "model.pt", b"another writer")),
        method="GET",
        path="model.pt",
        nth=2,
    )
    url = proxy.url(f"{container.url}/model.pt")
    with BlobIO(url, "rb", credential=key, options=SMALL) as f:
        with pytest.raises(BlobModifiedError):
            torch.load(f, weights_only=True)


# Without Retry-After: with it, each test would wait a second per attempt.
PERSISTENT = {name: fault for name, fault in TRANSIENT.items() if "retry-after" not in name}


@pytest.mark.parametrize("when", ["opening", "mid-read"])
@pytest.mark.parametrize("fault", PERSISTENT.values(), ids=PERSISTENT.keys())
def test_persistent_read_faults_raise_a_service_error_naming_the_blob(
    proxy, azurite_url, key, fault, when
):
    # From the first GET, or from the third on: the opening succeeded, a later read fails.
    proxy.inject(
        fault,
        method="GET",
        path="faulty #1.bin",
        nth=None if when == "opening" else tuple(range(3, 99)),
    )
    url = proxy.url(azurite_url)
    with pytest.raises(BlobServiceError) as caught:
        with BlobIO(url, "rb", credential=key, options=SMALL) as f:
            f.read()
    message = str(caught.value)
    assert "data/faulty%20%231.bin" in message
    if isinstance(fault, Respond):
        assert caught.value.status_code == fault.status
        assert f"HTTP {fault.status}" in message
    else:
        assert "failed after retries" in message
    if when == "opening":
        # Every attempt the retry policy allows was made, and no more (a broken body
        # of the opening GET costs one more: the reader fetches that window again).
        assert proxy.faults_fired in (FAST.max_retries + 1, FAST.max_retries + 2)
    else:
        # Parallel parts each retry on their own; at least one ran out of attempts.
        assert proxy.faults_fired >= FAST.max_retries + 1
