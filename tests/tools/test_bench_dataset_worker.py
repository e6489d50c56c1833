"""The datasets benchmark's worker, run as the benchmark runs it, against Azurite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _fixtures import container_sas

WORKER = Path(__file__).resolve().parents[2] / "tools" / "bench" / "dataset_worker.py"
BLOBS = 40


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-I", str(WORKER), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "per_epoch", "built"),
    # The iterable dataset's two workers share one listing; the map-style one
    # lists when it is built.
    [("iterable", 1, 0), ("map", 0, 1), ("map-listed", 1, 0)],
)
def test_the_worker_counts_listing_requests_per_epoch_and_while_building(
    scenario: str, per_epoch: int, built: int, upload: Any, container: Any, azurite: Any
) -> None:
    # "map-listed": the map-style dataset built inside the timed epoch.
    for index in range(BLOBS):
        upload(f"b/{index:02d}", b"%016d" % index)
    sas = container_sas(azurite, container.name, "rl")
    spec = {
        "scenario": scenario.removesuffix("-listed"),
        "list_in_epoch": scenario.endswith("-listed"),
        "container_url": f"{container.url}?{sas}",
        "workers": 2,
        "batch_size": 8,
        "samples": BLOBS,
        "blob_bytes": 16,
        "server_pid": None,
    }

    result = run_worker(spec)

    assert result["samples"] == BLOBS
    assert (result["listing_requests"], result["listing_requests_built"]) == (per_epoch, built)
