"""DataLoader worker processes: start methods, persistent workers, epochs."""

import pytest
from _dataset_children import name_and_data
from _fixtures import random_bytes
from torch.utils.data import DataLoader

from azstoragetorch.datasets import BlobDataset, IterableBlobDataset

CONTENTS = {f"w/{index:02d}": b"worker sample %d" % index for index in range(13)}
EXPECTED = list(CONTENTS.items())
DATASETS = pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])


def load(dataset, **kwargs):
    """Every (name, data) sample the DataLoader yields, batches flattened."""
    loader = DataLoader(dataset, batch_size=None, **kwargs)
    return [tuple(sample) for sample in loader]


@pytest.mark.slow
@DATASETS
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_every_start_method_works_after_the_parent_used_the_dataset(
    dataset_cls, method, blobs, container, key
):
    blobs(CONTENTS)
    dataset = dataset_cls.from_container_url(container.url, credential=key, transform=name_and_data)
    # The parent reads first: its connections and read-ahead threads exist at fork.
    assert load(dataset) == EXPECTED
    samples = load(dataset, num_workers=2, multiprocessing_context=method)
    assert sorted(samples) == EXPECTED
    if dataset_cls is IterableBlobDataset:
        assert samples == EXPECTED
    assert load(dataset) == EXPECTED  # and the parent still works afterwards


@pytest.mark.slow
@DATASETS
def test_persistent_workers_serve_several_epochs(dataset_cls, blobs, container, key):
    blobs(CONTENTS)
    dataset = dataset_cls.from_container_url(container.url, credential=key, transform=name_and_data)
    loader = DataLoader(dataset, batch_size=4, num_workers=2, persistent_workers=True)
    for _ in range(3):
        names = [name for batch in loader for name in batch[0]]
        assert sorted(names) == sorted(CONTENTS)


@DATASETS
def test_several_epochs_without_workers(dataset_cls, blobs, container, key):
    blobs(CONTENTS)
    dataset = dataset_cls.from_container_url(container.url, credential=key, transform=name_and_data)
    loader = DataLoader(dataset, batch_size=5)
    for _ in range(3):
        assert sorted(name for batch in loader for name in batch[0]) == sorted(CONTENTS)


@pytest.mark.slow
@DATASETS
def test_large_blobs_in_worker_processes(dataset_cls, blobs, container, key):
    big = random_bytes(17 * 1024 * 1024, seed=9)
    blobs({"big-1": big, "big-2": big[::-1], "small": b"s"})
    dataset = dataset_cls.from_container_url(container.url, credential=key)
    samples = DataLoader(dataset, batch_size=None, num_workers=2)
    assert sorted(sample["data"] for sample in samples) == sorted([big, big[::-1], b"s"])
