"""A real two-rank gloo process group on this machine."""

import itertools
import json

import pytest
from _dataset_children import run_rank, run_rank_epochs, run_rank_shares
from _fault_proxy import FaultProxy
from _gloo import run_ranks
from _many_blobs import MANY

from azstoragetorch._core._listing import PAGE_SIZE

WORLD_SIZE = 2
# Not a multiple of world_size * num_workers: shares cannot all be equal.
NAMES = [f"d/{index:02d}" for index in range(11)]


@pytest.mark.slow
def test_ranks_and_workers_see_every_sample_once(blobs, container, azurite, tmp_path):
    blobs({name: name.encode() for name in NAMES})
    run_ranks(run_rank, WORLD_SIZE, azurite, container.url, str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    for kind in ("main", "fork", "spawn"):
        shares = [ranks[rank][kind] for rank in range(WORLD_SIZE)]
        assert sorted(shares[0] + shares[1]) == NAMES, kind
        # Each rank gets every other sample, in listing order, whatever its workers.
        assert shares == [NAMES[0::2], NAMES[1::2]], kind
    assert [rank["gathered"] for rank in ranks] == [[6, 5], [6, 5]]
    # The map-style dataset with DistributedSampler: disjoint shares covering
    # everything (the sampler pads the shorter share with a repeat).
    mapped = [ranks[rank]["map"] for rank in range(WORLD_SIZE)]
    assert len(mapped[0]) == len(mapped[1]) == 6
    assert set(mapped[0]) | set(mapped[1]) == set(NAMES)


THREE_RANKS = 3
TEN = [f"e/{index}" for index in range(10)]


@pytest.mark.slow
def test_three_ranks_get_equal_shares_under_pad_and_drop(blobs, container, azurite, tmp_path):
    blobs({name: name.encode() for name in TEN})
    run_ranks(run_rank_shares, THREE_RANKS, azurite, container.url, str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(3)]

    def per_rank(key):
        return [ranks[rank][key] for rank in range(THREE_RANKS)]

    # "pad": 4 each; every sample once, plus the first two again to fill the last round.
    assert per_rank("pad") == [
        ["e/0", "e/3", "e/6", "e/9"],
        ["e/1", "e/4", "e/7", "e/0"],
        ["e/2", "e/5", "e/8", "e/1"],
    ]
    # "drop": 3 each, exactly once; the incomplete last round (e/9) is left out.
    drop = per_rank("drop")
    assert [len(share) for share in drop] == [3, 3, 3]
    assert sorted(itertools.chain.from_iterable(drop)) == TEN[:9]
    # "uneven": exactly once, 4/3/3.
    uneven = per_rank("uneven")
    assert [len(share) for share in uneven] == [4, 3, 3]
    assert sorted(itertools.chain.from_iterable(uneven)) == TEN
    # shard_by_rank=False: every rank sees the whole dataset once.
    assert per_rank("unsharded") == [TEN] * 3
    # Every rank ran the same number of all-reduce steps, and none hung.
    assert per_rank("steps-pad") == [2, 2, 2]
    assert per_rank("steps-drop") == [2, 2, 2]
    # Shuffled: each epoch is partitioned across ranks x workers, and epochs differ.
    epochs = [
        list(itertools.chain.from_iterable(per_rank(f"shuffled-{epoch}"))) for epoch in (0, 1)
    ]
    assert sorted(epochs[0]) == sorted(epochs[1]) == TEN
    assert per_rank("shuffled-0") != per_rank("shuffled-1")
    assert per_rank("shuffled-0") != per_rank("uneven")
    # BlobDataset with DistributedSampler and set_epoch: a new partition each epoch.
    for epoch in (0, 1):
        shares = per_rank(f"sampler-{epoch}")
        assert [len(share) for share in shares] == [4, 4, 4]
        assert set(itertools.chain.from_iterable(shares)) == set(TEN)
    assert per_rank("sampler-0") != per_rank("sampler-1")


@pytest.mark.slow
def test_each_rank_lists_once_per_epoch_for_its_two_workers(many_blobs, azurite, tmp_path):
    with FaultProxy(azurite.port) as proxy:
        run_ranks(run_rank_epochs, WORLD_SIZE, azurite, proxy.url(many_blobs.url), str(tmp_path))
        listings = sum(1 for seen in proxy.seen if "comp=list" in seen.query)
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    names = many_blobs.names
    for epoch in range(2):
        # Sample i goes to rank i % 2, exactly once, in listing order.
        assert [ranks[rank][epoch] for rank in range(WORLD_SIZE)] == [names[0::2], names[1::2]]
    # Each rank must list each epoch at least once: so exactly once, pages and all.
    assert listings == WORLD_SIZE * 2 * -(-MANY // PAGE_SIZE)
