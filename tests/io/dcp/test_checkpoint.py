"""Saving and loading in one process against Azurite: what is read, and the errors."""

import io
import pickle
import re
import warnings

import pytest
import torch
import torch.distributed.checkpoint as dcp
from _fixtures import container_sas
from torch.distributed.checkpoint.api import CheckpointException

from azstoragetorch.exceptions import (
    BlobNotFoundError,
    CheckpointExistsError,
    CheckpointMetadataError,
)
from azstoragetorch.io._writer import WriteOptions
from azstoragetorch.io.dcp import BlobStorageReader, BlobStorageWriter

KEYS = 100


def many_tensors() -> dict[str, torch.Tensor]:
    """Tensors of a few KiB to a few dozen, of several dtypes; the same every call."""
    generator = torch.Generator().manual_seed(0)
    dtypes = (torch.float32, torch.bfloat16, torch.int64, torch.float16)
    return {
        f"layer{i:03d}": (torch.rand(16, 64 + 37 * i, generator=generator) * 100).to(
            dtypes[i % len(dtypes)]
        )
        for i in range(KEYS)
    }


def nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


@pytest.fixture
def quiet():
    """dcp.save/load warn that they assume one process when no group is initialised."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "torch.distributed is disabled")
        yield


@pytest.fixture
def location(container):
    return f"{container.url}/checkpoints/step-1"


def fetched(recorder, suffix):
    """Bytes asked for by ranged GETs of blobs whose name ends with ``suffix``."""
    total = 0
    for request in recorder.requests:
        if request.method == "GET" and request.url.split("?")[0].endswith(suffix):
            first, last = request.headers["x-ms-range"].removeprefix("bytes=").split("-")
            total += int(last) - int(first) + 1
    return total


def test_a_partial_load_reads_little_more_than_the_keys_it_asks_for(location, key, recorder, quiet):
    saved = many_tensors()
    dcp.save(saved, storage_writer=BlobStorageWriter(location, credential=key))
    recorder.requests.clear()
    wanted = {name: torch.zeros_like(tensor) for name, tensor in list(saved.items())[::10]}
    dcp.load(wanted, storage_reader=BlobStorageReader(location, credential=key))
    for name, tensor in wanted.items():
        assert torch.equal(tensor, saved[name]), name
    needed = sum(nbytes(tensor) for tensor in wanted.values())
    assert needed <= fetched(recorder, ".distcp") <= 1.2 * needed
    # Far apart in their blobs: fetched one by one rather than with the gaps between.
    assert recorder.count("GET", ".distcp") == len(wanted)


def test_a_full_load_fetches_each_data_blob_in_few_large_ranges(location, key, recorder, quiet):
    saved = many_tensors()
    dcp.save(saved, storage_writer=BlobStorageWriter(location, credential=key))
    data_blobs = recorder.count("PUT", ".distcp")
    recorder.requests.clear()
    loaded = {name: torch.zeros_like(tensor) for name, tensor in saved.items()}
    dcp.load(loaded, storage_reader=BlobStorageReader(location, credential=key))
    for name, tensor in loaded.items():
        assert torch.equal(tensor, saved[name]), name
    # About 4 MiB in two blobs, each read with one request; the padding that aligns
    # tensors is all that is fetched beyond the data.
    assert recorder.count("GET", ".distcp") == data_blobs == 2
    # The metadata costs one GET, which also tells its size: no HEAD anywhere.
    assert recorder.count("GET", ".metadata") == 1
    assert recorder.count("HEAD", "") == 0
    needed = sum(nbytes(tensor) for tensor in saved.values())
    assert needed <= fetched(recorder, ".distcp") <= needed + 64 * KEYS


def test_overwrite_replaces_the_checkpoint_and_references_only_the_new_data(
    container, location, key, quiet
):
    first = {"w": torch.ones(1000), "note": "first"}
    dcp.save(first, storage_writer=BlobStorageWriter(location, credential=key))
    second = {"w": torch.full((1000,), 2.0), "note": "second"}
    dcp.save(second, storage_writer=BlobStorageWriter(location, credential=key, overwrite=True))
    loaded = {"w": torch.zeros(1000), "note": ""}
    reader = BlobStorageReader(location, credential=key)
    dcp.load(loaded, storage_reader=reader)
    assert torch.equal(loaded["w"], second["w"])
    assert loaded["note"] == "second"
    # Each save wrote its own folder; the first one's data stays, unreferenced.
    names = [b.name for b in container.client.list_blobs(name_starts_with="checkpoints/step-1/")]
    folders = {name.split("/")[2] for name in names if not name.endswith("/.metadata")}
    assert len(folders) == 2
    referenced = {item.blob.split("/")[0] for item in reader.read_metadata().storage_data.values()}
    assert len(referenced) == 1
    assert referenced < folders


class _OvertakenWriter(BlobStorageWriter):
    """A save that another save to the same prefix overtakes: the other one commits
    its metadata after this one's existence check and before this one's commit."""

    def __init__(self, location, key, other):
        super().__init__(location, credential=key)
        self._key = key
        self._other = other

    def write_data(self, plan, planner):
        written = super().write_data(plan, planner)
        dcp.save(
            self._other, storage_writer=BlobStorageWriter(self.checkpoint_id, credential=self._key)
        )
        return written


def test_a_save_overtaken_by_another_is_refused_at_commit_and_the_other_is_kept(
    container, location, key, quiet
):
    overtaken = _OvertakenWriter(location, key, {"w": torch.full((10,), 2.0)})
    with pytest.raises(CheckpointException) as caught:  # how dcp.save reports a rank's failure
        dcp.save({"w": torch.ones(10)}, storage_writer=overtaken)
    # One rank; torch keeps its failure as (exception, traceback).
    [(refusal, _)] = caught.value.failures.values()
    assert isinstance(refusal, CheckpointExistsError)
    assert str(refusal) == (
        f"Another save committed a distributed checkpoint at {location} while this one "
        f"was running; it was kept, and this save's data was left unreferenced in "
        f"{location}/{overtaken._save_id}/. Pass overwrite=True to BlobStorageWriter to "
        "replace it, or save to another prefix."
    )
    loaded = {"w": torch.zeros(10)}
    dcp.load(loaded, storage_reader=BlobStorageReader(location, credential=key))
    assert torch.equal(loaded["w"], torch.full((10,), 2.0))


class _RetriedCommitWriter(BlobStorageWriter):
    """Commits the metadata twice, as a retry after a lost response does."""

    def finish(self, metadata, results):
        super().finish(metadata, results)
        super().finish(metadata, results)


@pytest.mark.parametrize("blocks", [False, True], ids=["put-blob", "block-list"])
def test_a_retried_metadata_commit_that_finds_its_own_metadata_succeeds(
    location, key, quiet, blocks
):
    # Small blocks send the metadata as staged blocks and a conditional block list.
    options = {"write_options": WriteOptions(block_size=256, max_buffer=1024)} if blocks else {}
    writer = _RetriedCommitWriter(location, credential=key, **options)
    dcp.save({"w": torch.ones(10)}, storage_writer=writer)
    loaded = {"w": torch.zeros(10)}
    dcp.load(loaded, storage_reader=BlobStorageReader(location, credential=key))
    assert torch.equal(loaded["w"], torch.ones(10))


def test_a_sas_in_the_url_is_used_and_never_stored_or_shown(container, azurite, quiet):
    sas = container_sas(azurite, container.name, "rwc")
    url = f"{container.url}/ck?{sas}"
    writer = BlobStorageWriter(url, credential=False)
    dcp.save({"w": torch.arange(10.0)}, storage_writer=writer)
    loaded = {"w": torch.zeros(10)}
    reader = BlobStorageReader(url, credential=False)
    dcp.load(loaded, storage_reader=reader)
    assert torch.equal(loaded["w"], torch.arange(10.0))
    signature = re.search(r"sig=([^&]+)", sas).group(1)
    payload = container.client.download_blob("ck/.metadata").readall()
    for shown in (
        payload,
        repr(writer).encode(),
        repr(reader).encode(),
        writer.checkpoint_id.encode(),
    ):
        assert signature.encode() not in shown
        assert b"sig=" not in shown
    assert reader.read_metadata().storage_meta.checkpoint_id == f"{container.url}/ck"


def test_no_checkpoint_at_the_location_names_the_missing_metadata_blob(location, key, quiet):
    reader = BlobStorageReader(location, credential=key)
    with pytest.raises(BlobNotFoundError, match=re.escape(f"{location}/.metadata")):
        reader.read_metadata()
    # dcp.load wraps it, message included.
    with pytest.raises(BaseException, match=re.escape(f"{location}/.metadata")):
        dcp.load({"w": torch.zeros(1)}, storage_reader=reader)


def upload_metadata(container, payload):
    container.client.upload_blob("checkpoints/step-1/.metadata", payload, overwrite=True)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "cannot be unpickled"),
        (b"\x80\x05garbage", "cannot be unpickled"),
        (pickle.dumps({"not": "metadata"}), "holds a dict, not the metadata"),
    ],
)
def test_a_damaged_metadata_blob_is_named_in_a_clear_error(
    container, location, key, payload, message
):
    upload_metadata(container, payload)
    with pytest.raises(CheckpointMetadataError, match=message) as caught:
        BlobStorageReader(location, credential=key).read_metadata()
    assert f"{location}/.metadata" in str(caught.value)


def test_a_checkpoint_from_another_storage_layer_is_refused_clearly(
    container, location, key, tmp_path, quiet
):
    dcp.save({"w": torch.ones(3)}, storage_writer=dcp.FileSystemWriter(tmp_path))
    upload_metadata(container, (tmp_path / ".metadata").read_bytes())
    with pytest.raises(CheckpointMetadataError, match="not written by BlobStorageWriter"):
        BlobStorageReader(location, credential=key).read_metadata()


def test_bytes_items_round_trip(location, key, quiet):
    saved = {"config": {"lr": 0.5, "name": "run"}, "buffer": io.BytesIO(b"raw bytes")}
    dcp.save(saved, storage_writer=BlobStorageWriter(location, credential=key))
    loaded = {"config": {"lr": 0.0, "name": ""}, "buffer": io.BytesIO()}
    dcp.load(loaded, storage_reader=BlobStorageReader(location, credential=key))
    assert loaded["config"] == {"lr": 0.5, "name": "run"}
    assert loaded["buffer"].getvalue() == b"raw bytes"


def test_a_whole_tensor_is_received_into_the_state_dicts_tensor_without_a_buffer(
    location, key, quiet
):
    import tracemalloc

    saved = {"big": torch.arange(16 * 1024 * 1024, dtype=torch.float32)}  # 64 MiB
    dcp.save(saved, storage_writer=BlobStorageWriter(location, credential=key))
    loaded = {"big": torch.zeros_like(saved["big"])}
    address = loaded["big"].data_ptr()
    # tracemalloc sees Python buffers (a bytearray for the fetched range), not torch's
    # own allocations: receiving into the tensor keeps the traced peak far below 64 MiB.
    tracemalloc.start()
    try:
        dcp.load(loaded, storage_reader=BlobStorageReader(location, credential=key))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024
    assert loaded["big"].data_ptr() == address
    assert torch.equal(loaded["big"], saved["big"])


def test_direct_transposed_and_converted_targets_all_load_exactly(location, key, quiet):
    saved = {
        "square": torch.arange(64 * 64, dtype=torch.float32).reshape(64, 64),
        "half": torch.arange(4096, dtype=torch.float32).to(torch.bfloat16),
        "widened": torch.arange(4096, dtype=torch.float32).to(torch.bfloat16),
    }
    dcp.save(saved, storage_writer=BlobStorageWriter(location, credential=key))
    loaded = {
        "square": torch.zeros(64, 64).t(),  # not contiguous
        "half": torch.zeros(4096, dtype=torch.bfloat16),
        "widened": torch.zeros(4096, dtype=torch.float32),  # another dtype: converted
    }
    dcp.load(loaded, storage_reader=BlobStorageReader(location, credential=key))
    assert not loaded["square"].is_contiguous()
    assert torch.equal(loaded["square"], saved["square"])
    assert torch.equal(loaded["half"], saved["half"])
    assert torch.equal(loaded["widened"], saved["widened"].float())
