"""The order of list_checkpoints: newest first, then names with numbers as numbers."""

import datetime

import pytest

from azstoragetorch.io import CheckpointInfo
from azstoragetorch.io._housekeeping import _sort_newest_first

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def info(name, seconds):
    return CheckpointInfo(f"u/{name}", name, T0 + datetime.timedelta(seconds=seconds), 1, False)


def test_newer_comes_first_and_within_a_second_higher_numbers_first():
    found = [
        info("step-9.pt", 5),
        info("step-100.pt", 1),
        info("step-20.pt", 5),
        info("step-1000.pt", 0),
        info("epoch=2-step=10.ckpt", 5),
        info("epoch=10-step=50.ckpt", 5),
    ]
    _sort_newest_first(found)
    assert [c.name for c in found] == [
        "step-20.pt",
        "step-9.pt",
        "epoch=10-step=50.ckpt",
        "epoch=2-step=10.ckpt",
        "step-100.pt",
        "step-1000.pt",
    ]


@pytest.mark.parametrize("query", ["snapshot=2024-01-01T00%3A00%3A00Z", "versionid=v1"])
def test_housekeeping_refuses_a_snapshot_or_version_before_any_request(query):
    from azstoragetorch.io import list_checkpoints

    url = f"https://a.blob.core.windows.net/c/run1?{query}"
    with pytest.raises(ValueError, match="housekeeping, which works on current blobs"):
        list_checkpoints(url, credential=False)
