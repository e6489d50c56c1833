"""Mid-epoch resume with torchdata's StatefulDataLoader, in a new process, on Azurite."""

import itertools
import json
import multiprocessing

import pytest
from _gloo import run_ranks
from _resume_children import in_child, ranks_resume, ranks_save

NAMES = [f"r/{index:02d}" for index in range(23)]
CONTENTS = {name: name.encode() * 3 for name in NAMES}


def in_new_process(function, settings, container, azurite, out):
    process = multiprocessing.get_context("spawn").Process(
        target=in_child,
        args=(function, settings, container.url, azurite.account_name, azurite.account_key, out),
    )
    process.start()
    process.join(120)
    assert process.exitcode == 0, f"{function} failed"


def flat(batches):
    return list(itertools.chain.from_iterable(batches))


def read_names(gets, container):
    """The names of the blobs read, from the paths of their GETs."""
    return sorted(get.split(f"{container.name}/", 1)[1] for get in gets)


def read(path):
    with open(path) as f:
        return json.load(f)


def save_and_resume(settings, container, azurite, tmp_path):
    out = str(tmp_path / "run")
    in_new_process("save_after", settings, container, azurite, out)
    in_new_process("resume", settings, container, azurite, out)
    return read(out), read(out + ".resumed")


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("shuffle", [False, True])
def test_iterable_resume_in_a_new_process_yields_the_rest_of_the_epoch(
    blobs, container, azurite, tmp_path, workers, shuffle
):
    blobs(CONTENTS)
    settings = {
        "dataset": "iterable",
        "workers": workers,
        "batch_size": 2,
        "batches": 3,
        "shuffle": shuffle,
    }
    saved, resumed = save_and_resume(settings, container, azurite, tmp_path)
    epoch, seen, rest = flat(saved["epoch"]), flat(saved["seen"]), flat(resumed["rest"])
    assert sorted(epoch) == NAMES
    assert (epoch == NAMES) is (not shuffle and workers == 0)
    assert len(seen) == 6
    # Exactly the samples not yet yielded, in the epoch's order, batched as before.
    assert seen + rest == epoch
    assert saved["seen"] + resumed["rest"] == saved["epoch"]
    # The skipped samples were listed again but never read: one GET per sample left.
    assert read_names(resumed["gets"], container) == sorted(rest)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_map_dataset_resumes_through_its_sampler(blobs, container, azurite, tmp_path, workers):
    blobs(CONTENTS)
    settings = {
        "dataset": "map",
        "workers": workers,
        "batch_size": 2,
        "batches": 3,
        "shuffle": True,
    }
    saved, resumed = save_and_resume(settings, container, azurite, tmp_path)
    epoch, seen, rest = flat(saved["epoch"]), flat(saved["seen"]), flat(resumed["rest"])
    assert sorted(epoch) == NAMES and epoch != NAMES
    assert seen + rest == epoch
    assert read_names(resumed["gets"], container) == sorted(rest)


@pytest.mark.slow
def test_two_ranks_with_workers_and_shuffle_resume_their_own_shares(
    blobs, container, azurite, tmp_path
):
    blobs(CONTENTS)
    settings = json.dumps(
        {"dataset": "iterable", "workers": 2, "batch_size": 2, "batches": 3, "shuffle": True}
    )
    out = str(tmp_path / "run")
    run_ranks(ranks_save, 2, azurite, container.url, out, settings)
    run_ranks(ranks_resume, 2, azurite, container.url, out, settings)
    saved = [read(f"{out}.rank{rank}") for rank in range(2)]
    resumed = [read(f"{out}.rank{rank}.resumed") for rank in range(2)]
    epochs = [flat(run["epoch"]) for run in saved]
    # The ranks partition the shuffled epoch ("pad" repeats the first sample once).
    assert sorted(epochs[0] + epochs[1]) == sorted([*NAMES, epochs[0][0]])
    assert epochs[0] != NAMES[0::2]  # shuffled
    for rank in range(2):
        seen, rest = flat(saved[rank]["seen"]), flat(resumed[rank]["rest"])
        assert len(seen) == 6
        assert seen + rest == epochs[rank], rank
        assert read_names(resumed[rank]["gets"], container) == sorted(rest)
