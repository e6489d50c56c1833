"""IterableBlobDataset: lazy, ordered, read ahead, sharded across workers."""

import pickle
import threading

import pytest
from _dataset_children import name_only
from _fault_proxy import Before
from torch.utils.data import DataLoader

from azstoragetorch.datasets import IterableBlobDataset
from azstoragetorch.datasets._read_ahead import MAX_THREADS

# More workers than this machine has CPUs is the point of some tests.
MANY_WORKERS = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
CONTENTS = {f"s/{index:02d}": b"sample %d" % index for index in range(23)}


@pytest.fixture
def dataset(blobs, container, key):
    blobs(CONTENTS)
    return IterableBlobDataset.from_container_url(container.url, credential=key)


def test_samples_are_url_and_data_in_name_order(dataset, container):
    samples = list(dataset)
    assert samples[0] == {"url": f"{container.url}/s/00", "data": b"sample 0"}
    assert [sample["data"] for sample in samples] == list(CONTENTS.values())


def test_blobs_are_read_ahead_in_parallel(dataset, recorder):
    assert len(list(dataset)) == 23
    assert 1 < recorder.max_in_flight_requests <= MAX_THREADS + 1  # the listing may overlap


def test_each_iteration_lists_again(dataset, container, recorder):
    assert len(list(dataset)) == 23
    container.client.upload_blob("s/99", b"late")
    assert len(list(dataset)) == 24
    assert recorder.count("GET", "comp=list") == 2


def test_stopping_early_sends_no_more_than_the_read_ahead(dataset, recorder):
    samples = iter(dataset)
    next(samples)
    samples.close()
    assert recorder.count("GET") <= 1 + 1 + 16  # listing, the sample, the read-ahead


@MANY_WORKERS
@pytest.mark.parametrize(("workers", "batch_size"), [(2, 1), (3, 1), (2, 4), (4, 5)])
def test_workers_yield_every_sample_once(dataset, workers, batch_size):
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    data = [item for batch in loader for item in batch["data"]]
    assert sorted(data) == sorted(CONTENTS.values())
    if batch_size == 1:
        assert data == list(CONTENTS.values())  # listing order, worker after worker


@MANY_WORKERS
def test_from_blob_urls_shards_too(blobs, key):
    urls = blobs(CONTENTS)
    dataset = IterableBlobDataset.from_blob_urls(reversed(urls), credential=key)
    loader = DataLoader(dataset, batch_size=None, num_workers=3)
    assert [sample["url"] for sample in loader] == urls[::-1]


def test_a_used_dataset_pickles_and_yields_the_same(dataset):
    before = list(dataset)
    assert list(pickle.loads(pickle.dumps(dataset))) == before


@pytest.mark.slow
def test_workers_start_on_the_first_page_while_the_listing_goes_on(many_blobs, proxy):
    # The second page is held at the proxy until the first sample has arrived.
    go_on = threading.Event()
    held_too_long = []
    proxy.inject(
        Before(lambda: held_too_long.append(not go_on.wait(60))),
        query="comp=list",
        nth=2,
    )
    dataset = IterableBlobDataset.from_container_url(
        proxy.url(many_blobs.url), credential=many_blobs.credential, transform=name_only
    )
    samples = iter(DataLoader(dataset, batch_size=None, num_workers=2))
    first = next(samples)
    go_on.set()
    rest = list(samples)
    assert [first, *rest] == many_blobs.names
    assert held_too_long == [False]
