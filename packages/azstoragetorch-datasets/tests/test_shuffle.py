"""The order of a shuffled epoch: a function of (seed, epoch) alone, bounded in memory."""

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azstoragetorch.datasets._sharding import rank_share
from azstoragetorch.datasets._shuffle import (
    check_epoch,
    check_seed,
    check_shuffle,
    reject_map_shuffle,
    shuffled,
)

LISTING = [f"blob-{index:04d}" for index in range(500)]


def test_two_epochs_differ_and_each_is_a_permutation():
    first = list(shuffled(LISTING, 7, 0, 64))
    second = list(shuffled(LISTING, 7, 1, 64))
    assert first != second
    assert sorted(first) == sorted(second) == LISTING
    assert first != LISTING


def test_the_same_seed_and_epoch_give_the_same_order():
    assert list(shuffled(LISTING, 3, 2, 64)) == list(shuffled(LISTING, 3, 2, 64))
    assert list(shuffled(LISTING, 3, 2, 64)) != list(shuffled(LISTING, 4, 2, 64))


def test_the_order_is_the_same_in_another_process_whatever_its_hash_seed():
    code = (
        "from azstoragetorch.datasets._shuffle import shuffled;"
        "print(list(shuffled([f'blob-{i:04d}' for i in range(500)], 3, 2, 64)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": hash_seed},
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert outputs == {f"{list(shuffled(LISTING, 3, 2, 64))}\n"}


def test_the_buffer_bounds_how_far_ahead_the_listing_is_read():
    consumed = []

    def listing():
        for index, name in enumerate(LISTING):
            consumed.append(index)
            yield name

    next(shuffled(listing(), 0, 0, 10))
    assert len(consumed) == 11


def test_no_buffer_bound_shuffles_the_whole_listing():
    order = list(shuffled(LISTING, 0, 0, None))
    assert sorted(order) == LISTING
    # An item from the end can come first only when the whole listing is held.
    assert any(LISTING.index(name) >= 250 for name in order[:10])


@given(world_size=st.integers(1, 4), samples=st.integers(0, 80), epoch=st.integers(0, 3))
def test_shuffled_shares_of_all_ranks_still_partition_the_epoch(world_size, samples, epoch):
    listing = list(range(samples))
    shares = [
        list(rank_share(shuffled(listing, 1, epoch, 16), rank, world_size, "uneven"))
        for rank in range(world_size)
    ]
    assert sorted(sample for share in shares for sample in share) == listing


@pytest.mark.parametrize(
    ("check", "value", "error", "message"),
    [
        (check_seed, -1, ValueError, "seed must be 0 or more, not -1"),
        (check_seed, 1.5, TypeError, "seed must be an int, not float"),
        (check_seed, True, TypeError, "seed must be an int, not bool"),
        (check_epoch, -2, ValueError, "epoch must be 0 or more, not -2"),
        (check_epoch, "1", TypeError, "epoch must be an int, not str"),
    ],
)
def test_bad_seeds_and_epochs_are_rejected(check, value, error, message):
    with pytest.raises(error, match=message):
        check(value)


def test_no_seed_means_seed_zero_on_every_rank():
    assert check_seed(None) == 0


@pytest.mark.parametrize(
    ("shuffle", "buffer_size", "error"),
    [(1, 10, TypeError), (True, 0, ValueError), (True, -5, ValueError), (True, 2.0, TypeError)],
)
def test_bad_shuffle_arguments_are_rejected(shuffle, buffer_size, error):
    with pytest.raises(error, match="shuffle"):
        check_shuffle(shuffle, buffer_size)


def test_shuffle_on_a_map_style_dataset_points_to_samplers():
    with pytest.raises(TypeError, match="DistributedSampler"):
        reject_map_shuffle("from_container_url", {"shuffle": True})


@pytest.mark.parametrize("factory", ["from_container_url", "from_blob_urls"])
def test_blob_dataset_factories_reject_shuffle_before_any_request(factory):
    from azstoragetorch.datasets import BlobDataset

    url = "https://account.blob.core.windows.net/container"
    if factory == "from_blob_urls":
        url += "/blob"
    with pytest.raises(TypeError, match="pass shuffle=True to the DataLoader"):
        getattr(BlobDataset, factory)(url, credential=False, shuffle=True)
