"""BlobDataset: samples, batches read in parallel, samplers."""

import pickle

import pytest
import torch
from _dataset_children import name_only
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

from azstoragetorch.datasets import BlobDataset
from azstoragetorch.datasets._read_ahead import MAX_THREADS

CONTENTS = {f"s/{index:02d}": b"sample %d" % index for index in range(20)}


@pytest.fixture
def dataset(blobs, container, key):
    blobs(CONTENTS)
    return BlobDataset.from_container_url(container.url, credential=key)


def test_samples_are_url_and_data_in_name_order(dataset, container):
    assert len(dataset) == 20
    assert dataset[0] == {"url": f"{container.url}/s/00", "data": b"sample 0"}
    assert [dataset[i]["data"] for i in range(20)] == list(CONTENTS.values())
    assert dataset[-1]["url"] == f"{container.url}/s/19"
    with pytest.raises(IndexError):
        dataset[20]


def test_from_blob_urls_keeps_the_given_order_and_repeats(blobs, key):
    urls = blobs(CONTENTS)
    dataset = BlobDataset.from_blob_urls([urls[3], urls[1], urls[3]], credential=key)
    assert [sample["data"] for sample in dataset] == [b"sample 3", b"sample 1", b"sample 3"]


def test_a_transform_makes_the_sample(dataset):
    def upper(blob):
        with blob.reader() as f:
            return blob.blob_name, f.read().upper()

    transformed = BlobDataset(dataset._blobs, transform=upper)
    assert transformed[2] == ("s/02", b"SAMPLE 2")


def test_a_batch_is_read_in_parallel_and_returned_in_index_order(dataset, recorder):
    indices = [5, 0, 19, 5, *range(6, 18)]
    samples = dataset.__getitems__(indices)
    assert [sample["data"] for sample in samples] == [b"sample %d" % i for i in indices]
    assert 1 < recorder.max_in_flight_requests <= MAX_THREADS


def test_a_batch_sends_one_get_per_blob_and_nothing_else(dataset, recorder):
    dataset.__getitems__(list(range(20)))
    assert [r.method for r in recorder.requests] == ["GET"] * 20


def test_the_dataloader_batches_with_getitems(dataset, recorder):
    batches = list(DataLoader(dataset, batch_size=8))
    assert [len(batch["url"]) for batch in batches] == [8, 8, 4]
    assert [data for batch in batches for data in batch["data"]] == list(CONTENTS.values())
    assert len(recorder.requests) == 20


@pytest.mark.parametrize(
    "make_sampler",
    [
        lambda: SequentialSampler(range(20)),
        lambda: RandomSampler(range(20), generator=torch.Generator().manual_seed(7)),
        lambda: SubsetRandomSampler([3, 17, 4], generator=torch.Generator().manual_seed(1)),
        lambda: WeightedRandomSampler(
            [1.0] * 10 + [5.0] * 10, 30, generator=torch.Generator().manual_seed(2)
        ),
        lambda: [19, 0, 0, 7],  # any iterable of indices will do
    ],
    ids=["sequential", "random", "subset", "weighted", "list"],
)
def test_any_sampler_gets_the_samples_it_asks_for(dataset, make_sampler):
    expected = [b"sample %d" % index for index in make_sampler()]
    loader = DataLoader(dataset, batch_size=3, sampler=make_sampler())
    assert [data for batch in loader for data in batch["data"]] == expected


def test_a_batch_sampler_drives_getitems(dataset):
    sampler = BatchSampler(SequentialSampler(range(20)), batch_size=6, drop_last=True)
    loader = DataLoader(dataset, batch_sampler=sampler)
    assert [len(batch["data"]) for batch in loader] == [6, 6, 6]


def test_distributed_samplers_split_the_dataset_between_ranks(dataset):
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=3)
        loader = DataLoader(dataset, batch_size=4, sampler=sampler, num_workers=2)
        seen.append([url for batch in loader for url in batch["url"]])
    assert len(seen[0]) == len(seen[1]) == 10
    assert sorted(seen[0] + seen[1]) == sorted(dataset[i]["url"] for i in range(20))


def test_a_used_dataset_pickles_and_reads_the_same(dataset):
    before = dataset.__getitems__([0, 1, 2])
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy.__getitems__([0, 1, 2]) == before
    assert len(copy) == 20


def test_a_transform_that_never_reads_stops_the_read_ahead(dataset, recorder):
    names = BlobDataset(dataset._blobs, transform=name_only)
    assert names.__getitems__(list(range(20))) == list(CONTENTS)
    first = recorder.count("GET")
    assert names.__getitems__(list(range(20))) == list(CONTENTS)
    assert recorder.count("GET") == first  # the second batch sends nothing


def test_a_listed_dataset_keeps_plain_tuples_which_pickle_quickly_to_workers(dataset):
    entries = dataset._blobs._items
    assert len(entries) == 20
    assert all(type(entry) is tuple for entry in entries)
