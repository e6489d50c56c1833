"""A real two-rank gloo process group on this machine."""

import json

import pytest
from _dataset_children import run_rank
from _gloo import run_ranks

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
