"""Load: many workers over many blobs, many threads over one or many blobs."""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time

import pytest
from _fixtures import random_bytes
from _many_blobs import content_of
from _reliability import name_and_data, name_and_size, sha
from torch.utils.data import DataLoader

from azstoragetorch.datasets import BlobDataset, IterableBlobDataset
from azstoragetorch.io import BlobIO
from azstoragetorch.options import ClientOptions

MIB = 1024 * 1024
THREADS = 16


# Fork workers read every blob; spawn workers take the blobs' sizes from the listing
# instead. Reading 10,001 blobs twice more would add about a minute to CI and test
# nothing new: what spawn changes is how the dataset reaches the workers and how
# they share it out, and that shows in which samples come back.
TRANSFORMS = {"fork": name_and_data, "spawn": name_and_size}


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
@pytest.mark.parametrize("method", TRANSFORMS.keys())
@pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])
def test_eight_workers_over_ten_thousand_blobs_yield_every_sample_once(
    many_blobs, dataset_cls, method
):
    dataset = dataset_cls.from_container_url(
        many_blobs.url, credential=many_blobs.credential, transform=TRANSFORMS[method]
    )
    loader = DataLoader(
        dataset,
        batch_size=250,
        collate_fn=list,
        num_workers=8,
        multiprocessing_context=method,
    )
    started = time.monotonic()
    samples = [sample for batch in loader for sample in batch]
    elapsed = time.monotonic() - started
    counts = collections.Counter(name for name, _ in samples)
    assert set(counts) == set(many_blobs.names)
    assert set(counts.values()) == {1}
    for name, got in samples:
        expected = content_of(int(name[2:]))
        assert got == (expected if method == "fork" else len(expected)), name
    print(f"{dataset_cls.__name__} {method}: {len(samples)} samples in {elapsed:.1f} s")


def _at_once(count: int, work):  # type: ignore[no-untyped-def]
    """Run ``work(i)`` for ``i`` in ``range(count)`` on as many threads, released together."""
    barrier = threading.Barrier(count)

    def run(index: int):  # type: ignore[no-untyped-def]
        barrier.wait(timeout=30)
        return work(index)

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.timeout(120)
def test_sixteen_threads_writing_sixteen_blobs_at_once_commit_each_exactly(container, key):
    payloads = [random_bytes(3 * MIB + index, seed=100 + index) for index in range(THREADS)]
    blocks = ClientOptions(block_size=1 * MIB, max_concurrency=2)

    def write(index: int) -> None:
        url = f"{container.url}/parallel/{index:02d}.bin"
        with BlobIO(url, "wb", credential=key, options=blocks) as f:
            for offset in range(0, len(payloads[index]), 100_000):
                f.write(payloads[index][offset : offset + 100_000])

    _at_once(THREADS, write)
    for index, payload in enumerate(payloads):
        stored = container.client.download_blob(f"parallel/{index:02d}.bin").readall()
        assert sha(stored) == sha(payload), index


@pytest.mark.timeout(120)
def test_sixteen_threads_reading_one_blob_at_once_each_get_every_byte(container, key):
    data = random_bytes(4 * MIB, seed=200)
    container.client.upload_blob("shared.bin", data)
    small = ClientOptions(read_ahead=256 * 1024, part_size=MIB)

    def read(index: int) -> str:
        with BlobIO(f"{container.url}/shared.bin", "rb", credential=key, options=small) as f:
            if index % 2:
                return sha(f.read())
            chunks = iter(lambda: f.read(100_000 + index), b"")
            return sha(b"".join(chunks))

    assert _at_once(THREADS, read) == [sha(data)] * THREADS
