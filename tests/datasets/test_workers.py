"""DataLoader worker processes: start methods, persistent workers, epochs."""

import os
import tempfile
from pathlib import Path

import pytest
from _dataset_children import name_and_data, name_only, second_worker_starts_late
from _fault_proxy import Respond
from _fixtures import random_bytes
from _many_blobs import MANY
from torch.utils.data import ChainDataset, DataLoader

from azstoragetorch._core._listing import PAGE_SIZE
from azstoragetorch.datasets import BlobDataset, IterableBlobDataset
from azstoragetorch.exceptions import BlobNotFoundError, BlobPermissionError

CONTENTS = {f"w/{index:02d}": b"worker sample %d" % index for index in range(13)}
EXPECTED = list(CONTENTS.items())
PAGES_OF_MANY = -(-MANY // PAGE_SIZE)
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


# -- one listing per epoch, shared by the workers -----------------------------------


def listing_requests(proxy):
    return sum(1 for seen in proxy.seen if "comp=list" in seen.query)


def leftover_spools(parent_pid):
    """Spool files of workers whose parent is ``parent_pid``."""
    directory = Path(tempfile.gettempdir(), f"azstoragetorch-listings-{os.getuid()}")
    if not directory.exists():
        return []
    return [name for name in os.listdir(directory) if name.startswith(f"{parent_pid}-")]


@pytest.mark.slow
@pytest.mark.parametrize(
    # Spawned workers are the persistent ones: each new one costs a torch import.
    ("method", "persistent"),
    [("fork", False), ("spawn", True), ("forkserver", False)],
)
def test_two_workers_list_once_per_epoch(method, persistent, many_blobs, proxy):
    dataset = IterableBlobDataset.from_container_url(
        proxy.url(many_blobs.url), credential=many_blobs.credential, transform=name_only
    )
    loader = DataLoader(
        dataset,
        batch_size=None,
        num_workers=2,
        multiprocessing_context=method,
        persistent_workers=persistent,
    )
    for epoch in range(2):
        before = listing_requests(proxy)
        # The workers' shares interleave back into listing order: the same samples,
        # in the same order, as without sharing.
        assert list(loader) == many_blobs.names, epoch
        assert listing_requests(proxy) - before == PAGES_OF_MANY, epoch
    if method != "forkserver":  # whose workers' parent is the fork server
        assert leftover_spools(os.getpid()) == []


@pytest.mark.slow
def test_shuffled_epochs_are_the_same_in_shared_and_separate_listings(many_blobs, proxy):
    dataset = IterableBlobDataset.from_container_url(
        proxy.url(many_blobs.url),
        credential=many_blobs.credential,
        transform=name_only,
        shuffle=True,
        seed=5,
        shuffle_buffer_size=500,
    )
    loader = DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context="spawn")
    orders = []
    for epoch in range(2):
        dataset.set_epoch(epoch)
        expected = list(dataset)  # the rank's own order, listed in this process
        before = listing_requests(proxy)
        orders.append(list(loader))
        assert listing_requests(proxy) - before == PAGES_OF_MANY
        assert orders[-1] == expected
    assert orders[0] != orders[1]
    assert sorted(orders[0]) == sorted(orders[1]) == many_blobs.names


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_listing_failure_stops_every_worker_and_the_loader_raises(method, many_blobs, proxy):
    # Every request for a page after the first is refused: the listing fails
    # part-way, after each worker started on the first page.
    proxy.inject(Respond(403), query="marker=")
    dataset = IterableBlobDataset.from_container_url(
        proxy.url(many_blobs.url), credential=many_blobs.credential, transform=name_only
    )
    loader = DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context=method)
    seen = []
    with pytest.raises(BlobPermissionError):
        seen.extend(loader)
    # The workers yielded their shares of the first page, and no worker listed again.
    assert 0 < len(seen) <= PAGE_SIZE
    assert seen == many_blobs.names[: len(seen)]
    assert listing_requests(proxy) == 2
    if method == "fork":
        assert leftover_spools(os.getpid()) == []


@pytest.mark.slow
def test_a_missing_container_raises_from_the_loader(container, key, proxy):
    dataset = IterableBlobDataset.from_container_url(
        proxy.url(container.url) + "-missing", credential=key
    )
    loader = DataLoader(dataset, batch_size=None, num_workers=2)
    with pytest.raises(BlobNotFoundError, match="missing"):
        list(loader)
    assert listing_requests(proxy) == 1


@pytest.mark.slow
def test_two_datasets_chained_in_one_loader_list_apart(blobs, container, key, proxy):
    blobs({f"a/{index}": b"a" for index in range(3)})
    blobs({f"b/{index}": b"b" for index in range(3)})
    first, second = (
        IterableBlobDataset.from_container_url(
            proxy.url(container.url), prefix=prefix, credential=key, transform=name_only
        )
        for prefix in ("a/", "b/")
    )
    # Worker 0 reaches the second dataset before worker 1 has started the first.
    loader = DataLoader(
        ChainDataset([first, second]),
        batch_size=None,
        num_workers=2,
        prefetch_factor=8,
        worker_init_fn=second_worker_starts_late,
    )
    assert sorted(loader) == ["a/0", "a/1", "a/2", "b/0", "b/1", "b/2"]
    assert listing_requests(proxy) == 2  # one listing of each, shared by both workers
