"""Writing through injected faults commits exactly what was written, or nothing."""

from __future__ import annotations

import dataclasses
import time

import pytest
from _fault_proxy import LoseResponse, Respond
from _fixtures import random_bytes
from _reliability import FAST, TRANSIENT_ANY_REQUEST, sha
from azure.core.exceptions import ResourceNotFoundError

from azstoragetorch.exceptions import BlobServiceError, FatalBlobIOWriteError
from azstoragetorch.io import BlobIO

pytestmark = [pytest.mark.usefixtures("no_leaks"), pytest.mark.timeout(60)]

KIB = 1024
BLOCKS = dataclasses.replace(FAST, block_size=64 * KIB, max_concurrency=2)
NAME = "out/ckpt #1.pt"
QUOTED = "out/ckpt%20%231.pt"
STAGED = random_bytes(300 * KIB, seed=71)  # five blocks and a block list
SINGLE = random_bytes(40 * KIB, seed=72)  # one Put Blob

# Which request the fault hits: (proxy pattern, the data that makes that request).
TARGETS = {
    "put-block": ({"method": "PUT", "query": "comp=block&"}, STAGED),
    "put-block-list": ({"method": "PUT", "query": "comp=blocklist"}, STAGED),
    "put-blob": ({"method": "PUT"}, SINGLE),
}
TRANSIENT = {
    **TRANSIENT_ANY_REQUEST,
    "response-lost": LoseResponse(),
}
PERSISTENT = {
    name: TRANSIENT[name]
    for name in ("500", "503", "429", "reset-before-response", "stall-before-response")
}


def write(proxy, container, data: bytes, key) -> None:  # type: ignore[no-untyped-def]
    url = proxy.url(f"{container.url}/{QUOTED}")
    with BlobIO(url, "wb", credential=key, options=BLOCKS) as f:
        for offset in range(0, len(data), 10_000):
            f.write(data[offset : offset + 10_000])


def committed(container) -> bytes | None:  # type: ignore[no-untyped-def]
    try:
        return container.client.download_blob(NAME).readall()  # type: ignore[no-any-return]
    except ResourceNotFoundError:
        return None


@pytest.mark.parametrize("target", TARGETS.keys())
@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_writes_through_transient_faults_commit_exactly_the_bytes_written(
    proxy, container, key, fault, target
):
    pattern, data = TARGETS[target]
    rule = proxy.inject(fault, nth=(1, 3), **pattern)
    started = time.monotonic()
    write(proxy, container, data, key)
    assert sha(committed(container) or b"") == sha(data)
    assert proxy.faults_fired == rule.fired == (2 if target == "put-block" else 1)
    # Each hit request was sent again, so the client really saw the fault (a lost
    # response included, though Azurite had acted on the request).
    blocks = -(-len(STAGED) // BLOCKS.block_size)
    without_faults = blocks if target == "put-block" else 1
    assert rule.matched == without_faults + rule.fired
    if isinstance(fault, Respond) and fault.retry_after:
        assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize("target", TARGETS.keys())
@pytest.mark.parametrize("fault", PERSISTENT.values(), ids=PERSISTENT.keys())
def test_writes_through_persistent_faults_raise_fatal_error_and_keep_the_old_blob(
    proxy, container, key, fault, target
):
    old = random_bytes(1000, seed=73)
    container.client.upload_blob(NAME, old)
    pattern, data = TARGETS[target]
    proxy.inject(fault, **pattern)
    with pytest.raises(FatalBlobIOWriteError) as caught:
        write(proxy, container, data, key)
    assert committed(container) == old
    underlying = caught.value.underlying_exception
    assert isinstance(underlying, BlobServiceError)
    assert QUOTED in str(caught.value)
    if isinstance(fault, Respond):
        assert underlying.status_code == fault.status
    assert proxy.faults_fired >= FAST.max_retries + 1


@pytest.mark.parametrize("target", TARGETS.keys())
def test_a_write_that_fails_for_good_leaves_no_blob_behind(proxy, container, key, target):
    pattern, data = TARGETS[target]
    proxy.inject(Respond(503), **pattern)
    with pytest.raises(FatalBlobIOWriteError):
        write(proxy, container, data, key)
    assert committed(container) is None
