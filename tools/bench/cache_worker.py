"""Time consecutive epochs of one dataset in one process; run as a script.

Started like ``dataset_worker.py`` (``python -I tools/bench/cache_worker.py '<json
spec>'``) with the interpreter of the implementation under test, it prints one JSON
object on its last stdout line.

The spec names the dataset ``kind`` (``map`` or ``iterable``), the DataLoader's
``workers`` and ``batch_size``, the ``samples`` an epoch reads, the ``epochs``, and
``cache_dir`` (``None``: no cache; upstream 0.2.0 has none). The dataset is built
once, untimed (the map dataset lists the container then); each epoch is a new
DataLoader iterator, timed from its creation to its last sample, so the iterable
dataset's epochs include its listing, and the workers' start. Every sample's size
is checked.
"""

from __future__ import annotations

import runpy
import sys
import time
import types
from pathlib import Path
from typing import Any

support = types.SimpleNamespace(
    **runpy.run_path(str(Path(__file__).with_name("worker_support.py")))
)


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    import torch.utils.data

    import azstoragetorch.datasets
    from azstoragetorch.datasets import BlobDataset, IterableBlobDataset

    wanted = int(spec["samples"])
    cache: dict[str, Any] = {}
    if spec.get("cache_dir") is not None:
        cache = {"cache_dir": spec["cache_dir"]}
    if spec["kind"] == "map":
        dataset: Any = BlobDataset.from_container_url(spec["container_url"], **cache)
        if wanted < len(dataset):
            dataset = torch.utils.data.Subset(dataset, range(wanted))
    else:
        dataset = IterableBlobDataset.from_container_url(spec["container_url"], **cache)
    seconds = []
    for _ in range(int(spec["epochs"])):
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=spec["batch_size"], num_workers=spec["workers"]
        )
        started = time.perf_counter()
        iterator = iter(loader)
        seen = support.read_samples(iterator, wanted, spec["blob_bytes"])
        seconds.append(time.perf_counter() - started)
        del iterator, loader
        if seen < wanted:
            raise AssertionError(f"the DataLoader gave {seen} samples, expected {wanted}")
    return {
        "samples": wanted,
        "seconds": seconds,
        "module": azstoragetorch.datasets.__file__,
    }


if __name__ == "__main__":
    sys.exit(support.worker_main(sys.argv, _run))
