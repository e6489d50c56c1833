"""Mid-epoch resume with torchdata's StatefulDataLoader, in a new process, on Azurite.

The runs in new processes share their processes: every single-process setting is
saved by one spawned interpreter and resumed by another, and the two-rank settings
share one gloo group for the saves and one for the resumes. Each test then checks
its own setting's results. Starting an interpreter that imports torch costs
seconds; one per setting made these tests minutes long.
"""

import itertools
import json
import multiprocessing
import uuid

import pytest
from _azurite_plugin import AzuriteContainer
from _gloo import run_ranks
from _resume_children import in_child, ranks_resume, ranks_save
from azure.storage.blob import BlobServiceClient

NAMES = [f"r/{index:02d}" for index in range(23)]
CONTENTS = {name: name.encode() * 3 for name in NAMES}
BATCHES = {"batch_size": 2, "batches": 3}

SINGLE = {
    f"iterable-{workers}{'-shuffled' if shuffle else ''}": {
        "dataset": "iterable", "workers": workers, "shuffle": shuffle, **BATCHES
    }
    for workers in (0, 2)
    for shuffle in (False, True)
} | {
    f"map-{workers}": {"dataset": "map", "workers": workers, "shuffle": True, **BATCHES}
    for workers in (0, 2)
}  # fmt: skip
RANKS = {
    "iterable": {"dataset": "iterable", "workers": 2, "shuffle": True, **BATCHES},
    "map": {"dataset": "map", "workers": 2, "distributed": True, **BATCHES},
}


@pytest.fixture(scope="module")
def shared(azurite):
    """The container the runs in new processes read (they never change it)."""
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        name = f"resume-{uuid.uuid4().hex}"
        client = service.create_container(name)
        try:
            for blob, data in CONTENTS.items():
                client.upload_blob(blob, data)
            yield AzuriteContainer(name, f"{azurite.blob_endpoint}/{name}", client)
        finally:
            client.delete_container()


def in_new_process(function, runs, shared, azurite, out):
    process = multiprocessing.get_context("spawn").Process(
        target=in_child,
        args=(function, json.dumps(runs), shared.url, azurite.account_name, azurite.account_key,
              str(out)),
    )  # fmt: skip
    process.start()
    process.join(240)
    assert process.exitcode == 0, f"{function} failed"


@pytest.fixture(scope="module")
def single(shared, azurite, tmp_path_factory):
    """{setting: (saved, resumed)} of every setting of ``SINGLE``."""
    out = tmp_path_factory.mktemp("resume")
    in_new_process("save_after", SINGLE, shared, azurite, out)
    in_new_process("resume", SINGLE, shared, azurite, out)
    return {key: (read(out / key), read(out / f"{key}.resumed")) for key in SINGLE}


@pytest.fixture(scope="module")
def ranks(shared, azurite, tmp_path_factory):
    """{setting: [(saved, resumed) of each rank]} of every setting of ``RANKS``."""
    out = tmp_path_factory.mktemp("ranks")
    runs = json.dumps(RANKS)
    run_ranks(ranks_save, 2, azurite, shared.url, str(out), runs)
    run_ranks(ranks_resume, 2, azurite, shared.url, str(out), runs)
    return {
        key: [
            (read(out / f"{key}.rank{rank}"), read(out / f"{key}.rank{rank}.resumed"))
            for rank in range(2)
        ]
        for key in RANKS
    }


def flat(batches):
    return list(itertools.chain.from_iterable(batches))


def read_names(gets, container):
    """The names of the blobs read, from the paths of their GETs."""
    return sorted(get.split(f"{container.name}/", 1)[1] for get in gets)


def read(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("shuffle", [False, True])
def test_iterable_resume_in_a_new_process_yields_the_rest_of_the_epoch(
    single, shared, workers, shuffle
):
    saved, resumed = single[f"iterable-{workers}{'-shuffled' if shuffle else ''}"]
    epoch, seen, rest = flat(saved["epoch"]), flat(saved["seen"]), flat(resumed["rest"])
    assert sorted(epoch) == NAMES
    assert (epoch == NAMES) is (not shuffle and workers == 0)
    assert len(seen) == 6
    # Exactly the samples not yet yielded, in the epoch's order, batched as before.
    assert seen + rest == epoch
    assert saved["seen"] + resumed["rest"] == saved["epoch"]
    # The skipped samples were listed again but never read: one GET per sample left.
    assert read_names(resumed["gets"], shared) == sorted(rest)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_map_dataset_resumes_through_its_sampler(single, shared, workers):
    saved, resumed = single[f"map-{workers}"]
    epoch, seen, rest = flat(saved["epoch"]), flat(saved["seen"]), flat(resumed["rest"])
    assert sorted(epoch) == NAMES
    assert epoch != NAMES
    assert seen + rest == epoch
    assert read_names(resumed["gets"], shared) == sorted(rest)


@pytest.mark.slow
def test_two_ranks_with_workers_and_shuffle_resume_their_own_shares(ranks, shared):
    saved = [run[0] for run in ranks["iterable"]]
    resumed = [run[1] for run in ranks["iterable"]]
    epochs = [flat(run["epoch"]) for run in saved]
    # The ranks partition the shuffled epoch ("pad" repeats the first sample once).
    assert sorted(epochs[0] + epochs[1]) == sorted([*NAMES, epochs[0][0]])
    assert epochs[0] != NAMES[0::2]  # shuffled
    for rank in range(2):
        seen, rest = flat(saved[rank]["seen"]), flat(resumed[rank]["rest"])
        assert len(seen) == 6
        assert seen + rest == epochs[rank], rank
        assert read_names(resumed[rank]["gets"], shared) == sorted(rest)


@pytest.mark.slow
def test_two_ranks_resume_a_map_dataset_through_a_distributed_sampler(ranks, shared):
    saved = [run[0] for run in ranks["map"]]
    resumed = [run[1] for run in ranks["map"]]
    epochs = [flat(run["epoch"]) for run in saved]
    # DistributedSampler pads the shorter share with a repeat: 12 each.
    assert [len(epoch) for epoch in epochs] == [12, 12]
    assert set(epochs[0]) | set(epochs[1]) == set(NAMES)
    for rank in range(2):
        seen, rest = flat(saved[rank]["seen"]), flat(resumed[rank]["rest"])
        assert seen + rest == epochs[rank], rank
        assert read_names(resumed[rank]["gets"], shared) == sorted(rest)


# torchdata 0.11 calls a deprecated torch function when a loader is created.
TORCHDATA = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")


def names_of(loader):
    return [name for batch in loader for name in batch["name"]]


def save_in_process(dataset, batches):
    from torchdata.stateful_dataloader import StatefulDataLoader

    loader = StatefulDataLoader(dataset, batch_size=2)
    seen = []
    for batch in loader:
        seen += batch["name"]
        if len(seen) == 2 * batches:
            return seen, loader.state_dict()
    raise AssertionError("the epoch ended before the state was saved")


def resumed_loader(dataset, state):
    from torchdata.stateful_dataloader import StatefulDataLoader

    loader = StatefulDataLoader(dataset, batch_size=2)
    loader.load_state_dict(state)
    return loader


@TORCHDATA
def test_iterable_resume_takes_changes_after_the_resume_point_and_refuses_earlier_ones(
    blobs, container, key
):
    from _resume_children import name_and_data

    from azstoragetorch.datasets import IterableBlobDataset

    blobs(CONTENTS)

    def dataset():
        return IterableBlobDataset.from_container_url(
            container.url, credential=key, transform=name_and_data
        )

    seen, state = save_in_process(dataset(), 3)
    assert seen == NAMES[:6]
    # Deleted and added after the resume point: the rest of the epoch is what is
    # listed there now.
    container.client.delete_blob("r/10")
    container.client.upload_blob("r/99", b"late")
    expected = [name for name in NAMES[6:] if name != "r/10"] + ["r/99"]
    assert names_of(resumed_loader(dataset(), state)) == expected
    # Deleted, or added, before the resume point: refused, naming what to do.
    for change in ("delete", "add"):
        if change == "delete":
            container.client.delete_blob("r/02")
        else:
            container.client.upload_blob("r/02", b"back")
            container.client.upload_blob("r/00a", b"new")
        with pytest.raises(ValueError, match="listing changed since the state was saved"):
            names_of(resumed_loader(dataset(), state))


@TORCHDATA
def test_map_resume_refuses_a_container_whose_listing_changed(blobs, container, key):
    from _resume_children import name_and_data

    from azstoragetorch.datasets import BlobDataset

    blobs(CONTENTS)

    def dataset():
        return BlobDataset.from_container_url(
            container.url, credential=key, transform=name_and_data
        )

    _, state = save_in_process(dataset(), 3)
    assert names_of(resumed_loader(dataset(), state)) == NAMES[6:]
    container.client.upload_blob("r/99", b"late")
    with pytest.raises(ValueError, match="cannot be loaded into one over 24 blobs"):
        names_of(resumed_loader(dataset(), state))


@TORCHDATA
def test_a_state_of_another_container_or_prefix_is_refused(blobs, container, key):
    from _resume_children import name_and_data

    from azstoragetorch.datasets import IterableBlobDataset

    blobs(CONTENTS)
    _, state = save_in_process(
        IterableBlobDataset.from_container_url(
            container.url, credential=key, transform=name_and_data
        ),
        1,
    )
    other = IterableBlobDataset.from_container_url(
        container.url, prefix="r/1", credential=key, transform=name_and_data
    )
    with pytest.raises(ValueError, match=r"over the container .* cannot be loaded into one over"):
        names_of(resumed_loader(other, state))


@TORCHDATA
def test_a_shuffled_dataset_of_blob_urls_resumes_too(blobs, container, key):
    from _resume_children import name_and_data

    from azstoragetorch.datasets import IterableBlobDataset

    urls = blobs(CONTENTS)

    def dataset():
        stream = IterableBlobDataset.from_blob_urls(
            urls, credential=key, transform=name_and_data, shuffle=True, seed=5
        )
        stream.set_epoch(2)
        return stream

    from torchdata.stateful_dataloader import StatefulDataLoader

    epoch = names_of(StatefulDataLoader(dataset(), batch_size=2))
    assert sorted(epoch) == NAMES
    assert epoch != NAMES
    seen, state = save_in_process(dataset(), 4)
    assert seen + names_of(resumed_loader(dataset(), state)) == epoch
    # The same URLs with another order are other samples at each index: refused.
    reordered = IterableBlobDataset.from_blob_urls(
        list(reversed(urls)), credential=key, transform=name_and_data, shuffle=True, seed=5
    )
    with pytest.raises(ValueError, match="saved from an IterableBlobDataset over 23 blobs"):
        names_of(resumed_loader(reordered, state))
