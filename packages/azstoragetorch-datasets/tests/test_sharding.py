"""How an iterable dataset deals samples to ranks and DataLoader workers."""

from hypothesis import given
from hypothesis import strategies as st

from azstoragetorch.datasets._sharding import process_group, shard, slice_of


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
