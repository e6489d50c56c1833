"""The processes of the mid-epoch resume tests: one saves a loader's state, another
resumes from it. Spawned children import them by name.

A saving run writes JSON to ``out`` (the sample names of a whole epoch and of the
batches before the save, batch by batch) and the state to ``out.state``; a resumed
run writes ``out.resumed``: the names of the rest of the epoch and the blobs that
any of its processes read, workers included, counted at the transport seam.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

from _recording import Recorded, RecordingTransport, recording

from azstoragetorch.datasets import Blob


def name_and_data(blob: Blob) -> dict[str, Any]:
    with blob.reader() as f:
        return {"name": blob.blob_name, "data": f.read()}


def make_dataset(settings: dict[str, Any], container_url: str, credential: object) -> Any:
    from azstoragetorch.datasets import BlobDataset, IterableBlobDataset

    if settings["dataset"] == "map":
        return BlobDataset.from_container_url(
            container_url, credential=credential, transform=name_and_data
        )
    return IterableBlobDataset.from_container_url(
        container_url,
        credential=credential,
        transform=name_and_data,
        shuffle=settings["shuffle"],
        seed=11,
        shuffle_buffer_size=8,
    )


def make_loader(dataset: Any, settings: dict[str, Any]) -> Any:
    import torch
    from torchdata.stateful_dataloader import StatefulDataLoader
    from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler

    shuffle = settings.get("shuffle") if settings["dataset"] == "map" else None
    if settings.get("distributed"):
        # The ranks' shares of a map-style dataset, with a sampler torchdata saves.
        sampler = StatefulDistributedSampler(dataset, shuffle=True, seed=3)
        return StatefulDataLoader(
            dataset,
            batch_size=settings["batch_size"],
            num_workers=settings["workers"],
            sampler=sampler,
        )
    return StatefulDataLoader(
        dataset,
        batch_size=settings["batch_size"],
        num_workers=settings["workers"],
        shuffle=shuffle,
        # A map-style shuffle draws from this generator; its state is saved too.
        generator=torch.Generator().manual_seed(3) if shuffle else None,
    )


def names(batch: dict[str, Any]) -> list[str]:
    return list(batch["name"])


def save_after(settings: dict[str, Any], container_url: str, credential: object, out: str) -> None:
    """Run a whole epoch for the expected order, then a second loader up to
    ``settings["batches"]`` batches; save that loader's state to ``out + ".state"``."""
    dataset = make_dataset(settings, container_url, credential)
    epoch = [names(batch) for batch in make_loader(dataset, settings)]
    loader = make_loader(dataset, settings)
    seen = []
    for batch in loader:
        seen.append(names(batch))
        if len(seen) == settings["batches"]:
            break
    Path(out + ".state").write_bytes(pickle.dumps(loader.state_dict()))
    Path(out).write_text(json.dumps({"epoch": epoch, "seen": seen}))


def resume(settings: dict[str, Any], container_url: str, credential: object, out: str) -> None:
    """Load the saved state into a new loader and run the rest of the epoch."""
    reads = Path(out + ".reads")
    reads.write_text("")
    with recording(fail=_logger(reads)):
        dataset = make_dataset(settings, container_url, credential)
        loader = make_loader(dataset, settings)
        loader.worker_init_fn = _record_worker(str(reads))
        loader.load_state_dict(pickle.loads(Path(out + ".state").read_bytes()))
        rest = [names(batch) for batch in loader]
    gets = [line for line in reads.read_text().splitlines() if not line.endswith("comp=list")]
    Path(out + ".resumed").write_text(json.dumps({"rest": rest, "gets": gets}))


def _logger(path: Path) -> Any:
    """A hook of the recording transport that appends each GET's blob path to ``path``;
    it never fails a request."""

    def log(recorded: Recorded) -> bool:
        if recorded.method == "GET":
            path_and_query = recorded.url.split("/", 3)[3]
            path_part, _, query = path_and_query.partition("?")
            listing = "comp=list" in query
            with path.open("a") as f:
                f.write(f"{path_part}{' comp=list' if listing else ''}\n")
        return False

    return log


class _record_worker:  # used as a function, pickled into workers
    """``worker_init_fn``: record the worker's requests too.

    A forked worker inherits the parent's recording transport, which wraps the
    parent's connections: route the worker through a recorder of its own pool.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, worker_id: int) -> None:
        from azstoragetorch._core import _shared_transport

        recorder = RecordingTransport(_shared_transport._shared.get(), _logger(Path(self.path)))
        # Left in place: the worker's requests are recorded until it ends.
        _shared_transport.shared_transport = lambda: recorder  # type: ignore[assignment,return-value]


def each(function: str, runs: str, url: str, credential: object, out: str, suffix: str) -> None:
    """``function`` of this module for each of ``runs`` (JSON: {key: settings}), one after
    the other in this process, writing to ``out/key`` + ``suffix``: one interpreter, with
    its torch import, serves them all."""
    for key, settings in json.loads(runs).items():
        globals()[function](settings, url, credential, f"{out}/{key}{suffix}")


def ranks_save(rank: int, world_size: int, credential: object, url: str, out: str, s: str) -> None:
    each("save_after", s, url, credential, out, f".rank{rank}")


def ranks_resume(
    rank: int, world_size: int, credential: object, url: str, out: str, s: str
) -> None:
    each("resume", s, url, credential, out, f".rank{rank}")


def in_child(function: str, runs: str, url: str, account: str, key: str, out: str) -> None:
    """Entry point of a spawned process: ``each(function, runs, ...)`` with a key
    credential, starting DataLoader workers as a newly launched process would."""
    from _gloo import as_if_launched
    from azure.core.credentials import AzureNamedKeyCredential

    as_if_launched()
    each(function, runs, url, AzureNamedKeyCredential(account, key), out, "")
