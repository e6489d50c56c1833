"""How an iterable dataset deals samples to ranks and DataLoader workers."""

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azstoragetorch.datasets._sharding import (
    check_sharding,
    process_group,
    rank_share,
    shard,
    slice_of,
)


@given(samples=st.integers(0, 200), world_size=st.integers(1, 5), num_workers=st.integers(1, 6))
def test_every_sample_goes_to_exactly_one_worker_and_ranks_are_balanced(
    samples, world_size, num_workers
):
    listing = list(range(samples))
    shares = {
        (rank, worker): listing[slice(*_bounds(rank, world_size, worker, num_workers))]
        for rank in range(world_size)
        for worker in range(num_workers)
    }
    everything = sorted(sample for share in shares.values() for sample in share)
    assert everything == listing
    per_rank = [
        sum(len(shares[rank, worker]) for worker in range(num_workers))
        for rank in range(world_size)
    ]
    assert max(per_rank) - min(per_rank) <= 1
    for rank in range(world_size):
        # A DataLoader takes one sample from each worker in turn: listing order.
        interleaved = []
        queues = [list(shares[rank, worker]) for worker in range(num_workers)]
        while any(queues):
            for queue in queues:
                if queue:
                    interleaved.append(queue.pop(0))
        assert interleaved == listing[rank::world_size]


def _bounds(rank, world_size, worker, num_workers):
    start, step = slice_of(rank, world_size, worker, num_workers)
    return start, None, step


def test_shards_are_numbered_rank_major():
    # Shard rank * num_workers + worker starts at rank + worker * world_size.
    assert slice_of(0, 2, 0, 3) == (0, 6)
    assert slice_of(1, 2, 0, 3) == (1, 6)
    assert slice_of(0, 2, 1, 3) == (2, 6)
    assert slice_of(1, 2, 2, 3) == (5, 6)


def test_the_main_process_without_a_process_group_takes_everything():
    assert process_group() is None
    assert shard(None) == (0, 1)


def test_a_recorded_process_group_applies_where_none_is_initialised():
    assert shard((1, 2)) == (1, 2)


def _rank_shares(listing, world_size, mode):
    return [list(rank_share(iter(listing), rank, world_size, mode)) for rank in range(world_size)]


@given(samples=st.integers(0, 60), world_size=st.integers(1, 5))
def test_drop_gives_every_rank_the_same_count_and_each_sample_at_most_once(samples, world_size):
    shares = _rank_shares(range(samples), world_size, "drop")
    assert {len(share) for share in shares} == {samples // world_size}
    kept = sorted(sample for share in shares for sample in share)
    assert kept == list(range(samples // world_size * world_size))


@given(samples=st.integers(1, 60), world_size=st.integers(1, 5))
def test_pad_gives_every_rank_the_same_count_and_every_sample_at_least_once(samples, world_size):
    shares = _rank_shares(range(samples), world_size, "pad")
    rounds = -(-samples // world_size)
    assert {len(share) for share in shares} == {rounds}
    dealt = [sample for share in shares for sample in share]
    assert set(dealt) == set(range(samples))
    # The padding repeats the epoch's first samples, as DistributedSampler does.
    padding = Counter(dealt) - Counter(range(samples))
    expected = ([*range(samples)] * world_size)[: rounds * world_size - samples]
    assert padding == Counter(expected)


@given(samples=st.integers(0, 60), world_size=st.integers(1, 5))
def test_uneven_deals_every_sample_once_with_shares_within_one(samples, world_size):
    shares = _rank_shares(range(samples), world_size, "uneven")
    assert sorted(sample for share in shares for sample in share) == list(range(samples))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_pad_and_drop_on_ten_samples_over_three_ranks():
    assert _rank_shares(range(10), 3, "pad") == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    assert _rank_shares(range(10), 3, "drop") == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert _rank_shares(range(10), 3, "uneven") == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert _rank_shares(range(0), 3, "pad") == [[], [], []]


def test_drop_reads_no_further_ahead_than_one_round():
    consumed = []

    def listing():
        for index in range(100):
            consumed.append(index)
            yield index

    first = next(rank_share(listing(), 0, 4, "drop"))
    assert first == 0
    assert consumed == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("shard_by_rank", "uneven_shares", "error"),
    [
        ("yes", "pad", TypeError),
        (True, "round", ValueError),
        (True, None, ValueError),
    ],
)
def test_bad_sharding_arguments_are_rejected(shard_by_rank, uneven_shares, error):
    with pytest.raises(error, match=r"shard_by_rank|uneven_shares"):
        check_sharding(shard_by_rank, uneven_shares)
