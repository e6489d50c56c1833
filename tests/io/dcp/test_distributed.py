"""Real gloo groups of 2 and 4 processes saving and loading one checkpoint in Azurite.

Starting ranks is expensive, so one 2-rank run makes every save case (a checkpoint,
a refused save, a rank failing mid-save, a failing and a working ``async_save``)
and loads the checkpoint back; the tests below check its reports and what it left
in the container, then load the checkpoint with 1 and with 4 ranks.
"""

import json
import uuid
import warnings

import pytest
import torch
import torch.distributed.checkpoint as dcp
from _dcp_children import COLS, ROWS, differences, embedding, model_state, run_rank
from _gloo import run_ranks
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import ContainerClient

from azstoragetorch.io.dcp import BlobStorageReader

pytestmark = pytest.mark.slow


def run_scenario(scenario, world_size, base_url, azurite, out_dir):
    run_ranks(run_rank, world_size, azurite, scenario, base_url, str(out_dir))
    return [
        json.loads((out_dir / f"{scenario}-rank{rank}.json").read_text())
        for rank in range(world_size)
    ]


@pytest.fixture(scope="module")
def saved(module_container, azurite, tmp_path_factory):
    """The 2-rank run: (base URL, one report per rank, the container's blob names)."""
    base_url = f"{module_container}/run-{uuid.uuid4().hex[:8]}"
    reports = run_scenario("save", 2, base_url, azurite, tmp_path_factory.mktemp("save"))
    container = ContainerClient.from_container_url(
        module_container,
        credential={"account_name": azurite.account_name, "account_key": azurite.account_key},
    )
    with container:
        names = [blob.name for blob in container.list_blobs()]
    return base_url, reports, names


def blobs_under(names, base_url, module_container, folder):
    prefix = f"{base_url[len(module_container) + 1 :]}/{folder}/"
    return [name[len(prefix) :] for name in names if name.startswith(prefix)]


def load_in_this_process(url, state, azurite):
    credential = AzureNamedKeyCredential(azurite.account_name, azurite.account_key)
    with warnings.catch_warnings():
        # dcp.load warns that it assumes one process when no group is initialised.
        warnings.filterwarnings("ignore", "torch.distributed is disabled")
        dcp.load(state, storage_reader=BlobStorageReader(url, credential=credential))


def test_two_ranks_round_trip_model_optimizer_and_sharded_state(saved):
    _, reports, _ = saved
    for report in reports:
        assert report["round_trip"] == []
        assert report["embed_equal"] is True


def test_an_existing_checkpoint_is_refused_on_every_rank_before_anything_is_written(saved):
    _, reports, names = saved
    for report in reports:
        # The coordinator's check fails the save for both ranks.
        assert list(report["refused"]) == ["0"]
        assert report["refused"]["0"].startswith("CheckpointExistsError: ")
        assert "overwrite=True" in report["refused"]["0"]
    refused_id = reports[0]["refused_save_id"]
    assert not [name for name in names if refused_id in name]


def test_a_rank_failing_mid_save_fails_the_save_everywhere_and_leaves_no_metadata(
    saved, module_container
):
    base_url, reports, names = saved
    for report in reports:
        assert list(report["failed"]) == ["1"]
        assert "injected PUT failure" in report["failed"]["1"]
        assert report["failed"]["1"].startswith("FatalBlobIOWriteError: ")
    assert ".metadata" not in blobs_under(names, base_url, module_container, "bad")


def test_async_save_reports_a_failed_upload_and_the_replaced_checkpoint_survives(
    saved, module_container, azurite
):
    base_url, reports, names = saved
    for report in reports:
        assert list(report["async_failed"]) == ["1"]
        assert "injected PUT failure" in report["async_failed"]["1"]
    good = blobs_under(names, base_url, module_container, "good")
    # The first save and the failed overwrite each wrote a folder; one metadata blob.
    assert good.count(".metadata") == 1
    assert len({name.split("/")[0] for name in good if name != ".metadata"}) == 2
    # The earlier checkpoint is complete and loads (here in one process: 2 -> 1 ranks).
    state = {**model_state(1), "embed": torch.zeros(ROWS, COLS), "step": 0}
    load_in_this_process(f"{base_url}/good", state, azurite)
    assert differences(state, {**model_state(0), "embed": embedding(), "step": 7}) == []


def test_async_save_writes_a_checkpoint_that_loads(saved, azurite):
    base_url, _, _ = saved
    state = {**model_state(1), "embed": torch.zeros(ROWS, COLS), "step": 0}
    load_in_this_process(f"{base_url}/async", state, azurite)
    assert differences(state, {**model_state(0), "embed": embedding(), "step": 7}) == []


def test_four_ranks_load_the_two_rank_checkpoint_reading_only_their_rows(saved, azurite, tmp_path):
    base_url, _, _ = saved
    reports = run_scenario("load", 4, base_url, azurite, tmp_path)
    for report in reports:
        assert report["round_trip"] == []
        assert report["embed_equal"] is True
        # A quarter of the table, fetched as one range (its rows lie in one saved shard).
        assert report["embed_bytes_fetched"] == report["shard_bytes"]
