"""The mid-epoch resume state: small whatever the listing, and refused when it does
not fit the dataset. Synthetic listings: no request is sent."""

import json
import pickle

import pytest
from azure.core.credentials import AzureNamedKeyCredential

from azstoragetorch._core._url import BlobURL
from azstoragetorch.datasets import BlobDataset, IterableBlobDataset
from azstoragetorch.datasets._dataset_clients import clients_for
from azstoragetorch.datasets._sources import ContainerListing

# Nothing listens here: a test that sent a request would fail with a connection error.
CONTAINER = "http://127.0.0.1:1/devstoreaccount1/c"
KEY = AzureNamedKeyCredential("devstoreaccount1", "a2V5")
SECRET = "c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"


class SyntheticListing(ContainerListing):
    """A container listing of ``count`` made-up entries, listed without a request."""

    def __init__(self, count: int, names: list[str] | None = None) -> None:
        super().__init__(BlobURL.parse(CONTAINER), "train/", clients_for(KEY, None))
        self.count = count
        self.names = names

    def entries(self):
        names = self.names or (f"train/{index:07d}.jpg" for index in range(self.count))
        return ((name, 16384, '"0x8DC0000000000"', None, None, None) for name in names)


def synthetic(listing, **settings):
    """An iterable dataset over ``listing`` whose transform only names the blob."""
    dataset = IterableBlobDataset(listing, transform=lambda blob: blob.blob_name)._configure(
        **{
            "shard_by_rank": True,
            "uneven_shares": "pad",
            "shuffle": False,
            "seed": None,
            "shuffle_buffer_size": 10_000,
            **settings,
        }
    )
    # The blobs do not exist: never start reading one ahead of the transform.
    dataset._read_ahead.active = False
    return dataset


def test_the_state_of_a_million_blob_epoch_is_a_few_hundred_bytes():
    dataset = synthetic(SyntheticListing(1_000_000))
    samples = iter(dataset)
    early = None
    for index, _ in enumerate(samples):
        if index == 9:
            early = dataset.state_dict()
    late = dataset.state_dict()
    assert late["yielded"] == 1_000_000
    assert early["yielded"] == 10
    # The documented figure (docs/datasets.rst): under 400 bytes pickled, and the
    # same size at the start and the end of the epoch but for the count's digits.
    assert len(pickle.dumps(late)) < 400
    assert len(json.dumps(late)) - len(json.dumps(early)) == len("1000000") - len("10")
    assert set(late) == set(early)


def test_a_resume_skips_what_was_yielded_and_yields_the_rest_in_order():
    names = [f"train/{index:03d}" for index in range(50)]
    for shuffle in (False, True):
        first = synthetic(SyntheticListing(0, names), shuffle=shuffle, shuffle_buffer_size=8)
        first.set_epoch(3)
        order = list(first)
        samples = iter(first)
        head = [next(samples) for _ in range(17)]
        state = first.state_dict()
        resumed = synthetic(SyntheticListing(0, names), shuffle=shuffle, shuffle_buffer_size=8)
        resumed.load_state_dict(state)
        # The state before the resumed iteration starts is the loaded one.
        assert resumed.state_dict() == state
        assert head + list(resumed) == order
        assert resumed._epoch == 3
        # Only the next iteration resumes.
        assert list(resumed) == order


def test_a_resume_after_a_change_before_the_resume_point_raises():
    names = [f"train/{index:03d}" for index in range(20)]
    first = synthetic(SyntheticListing(0, names))
    samples = iter(first)
    [next(samples) for _ in range(5)]
    state = first.state_dict()
    for changed in (names[:2] + names[3:], [*names[:2], "train/001a", *names[2:]]):
        resumed = synthetic(SyntheticListing(0, changed))
        resumed.load_state_dict(state)
        with pytest.raises(ValueError, match="listing changed since the state was saved"):
            list(resumed)
    # A change after the resume point is taken as it comes.
    resumed = synthetic(SyntheticListing(0, [*names[:10], *names[11:], "train/999"]))
    resumed.load_state_dict(state)
    assert list(resumed) == [*names[5:10], *names[11:], "train/999"]


def test_the_state_names_the_container_never_a_sas():
    dataset = IterableBlobDataset.from_container_url(
        f"{CONTAINER}?sv=2025-01-05&sp=rl&sig={SECRET}", prefix="x/"
    )
    state = dataset.state_dict()
    assert (
        state["dataset"] == "the container http://127.0.0.1:1/devstoreaccount1/c with prefix 'x/'"
    )
    assert SECRET not in repr(state)
    assert "sig" not in repr(state)
    urls = [f"{CONTAINER}/{index}?sv=2025-01-05&sp=r&sig={SECRET}" for index in range(3)]
    for made in (IterableBlobDataset, BlobDataset):
        state = made.from_blob_urls(urls).state_dict()
        assert state["dataset"].startswith("3 blobs with URL hash ")
        assert SECRET not in repr(state)
        # Another SAS for the same blobs is the same dataset.
        rotated = [url.replace(SECRET, "b3RoZXI%3D") for url in urls]
        made.from_blob_urls(rotated).load_state_dict(state)


def valid_state():
    return synthetic(SyntheticListing(5)).state_dict()


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"yielded": "3"}, TypeError, "'yielded' must be an int, not str"),
        ({"yielded": True}, TypeError, "'yielded' must be an int, not bool"),
        ({"epoch": 1.0}, TypeError, "'epoch' must be an int, not float"),
        ({"yielded": -1}, ValueError, "must be 0 or more"),
        ({"digest": "zz"}, ValueError, "not hexadecimal"),
        ({"version": 2}, ValueError, "format version 2"),
        ({"azstoragetorch": "BlobDataset"}, ValueError, "a state of a BlobDataset, not of a"),
        ({"azstoragetorch": None}, ValueError, "not a state saved by azstoragetorch"),
        ({"dataset": "the container http://x/y"}, ValueError, "over the container http://x/y"),
        ({"seed": 4}, ValueError, "saved with seed=4, and this dataset iterates with seed=0"),
        ({"shuffle": True}, ValueError, "saved with shuffle=True"),
        ({"num_workers": 2, "worker": 1}, ValueError, "saved with worker=1"),
        ({"world_size": 2}, ValueError, "saved with world_size=2"),
        ({"uneven_shares": "drop"}, ValueError, "saved with uneven_shares='drop'"),
    ],
)
def test_a_state_that_does_not_fit_the_dataset_is_refused(change, error, message):
    dataset = synthetic(SyntheticListing(5))
    with pytest.raises(error, match=message.replace("(", r"\(").replace("?", r"\?")):
        dataset.load_state_dict({**valid_state(), **change})
    assert list(dataset) == [f"train/{index:07d}.jpg" for index in range(5)]


def test_a_state_that_is_not_a_dict_or_misses_a_field_is_refused():
    dataset = synthetic(SyntheticListing(5))
    with pytest.raises(TypeError, match="must be a dict returned by IterableBlobDataset"):
        dataset.load_state_dict([("yielded", 3)])  # type: ignore[arg-type]
    state = valid_state()
    del state["digest"]
    with pytest.raises(ValueError, match="The state has no 'digest'"):
        dataset.load_state_dict(state)


def test_a_map_dataset_refuses_the_state_of_other_blobs():
    urls = [f"{CONTAINER}/{index}" for index in range(3)]
    state = BlobDataset.from_blob_urls(urls, credential=KEY).state_dict()
    with pytest.raises(ValueError, match="saved from a BlobDataset over 3 blobs"):
        BlobDataset.from_blob_urls(urls[:2], credential=KEY).load_state_dict(state)
    with pytest.raises(ValueError, match="a state of a BlobDataset, not of an IterableBlobDataset"):
        IterableBlobDataset.from_blob_urls(urls, credential=KEY).load_state_dict(state)
    with pytest.raises(TypeError, match="must be a dict"):
        BlobDataset.from_blob_urls(urls, credential=KEY).load_state_dict(None)  # type: ignore[arg-type]
