"""Checkpoint housekeeping against Azurite: list newest first, delete, keep the last N."""

import datetime
import itertools
import time
import urllib.parse

import pytest
from azure.core.credentials import AzureSasCredential
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from azstoragetorch.exceptions import BlobPermissionError
from azstoragetorch.io import (
    CheckpointInfo,
    delete_checkpoint,
    list_checkpoints,
    prune_checkpoints,
)


def names(container):
    return sorted(blob.name for blob in container.client.list_blobs())


def put(container, *blob_names):
    for name in blob_names:
        container.client.upload_blob(name, name.encode(), overwrite=True)


def test_checkpoints_are_listed_newest_first_with_dcp_folders_and_without_strays(container, key):
    put(container, "run1/step-100.pt", "run1/dcp-a/.metadata", "run1/dcp-a/x/__0_0.distcp")
    # Last-modified times have one-second resolution: these are a second newer.
    time.sleep(1.1)
    put(container, "run1/step-9.pt", "run1/step-20.pt", "run1/dcp-b/.metadata")
    # Not checkpoints of run1: a nested plain blob, a folder without metadata (half
    # written or half deleted), a sibling prefix that merely starts alike.
    put(container, "run1/logs/a/b.txt", "run1/dcp-c/x/__0_0.distcp", "run10/step-1.pt")

    found = list_checkpoints(f"{container.url}/run1", credential=key)

    # The uploads of one group may straddle a second boundary: check the order's rule.
    assert {c.name for c in found[:3]} == {"step-20.pt", "step-9.pt", "dcp-b"}
    assert {c.name for c in found[3:]} == {"step-100.pt", "dcp-a"}
    for newer, older in itertools.pairwise(found):
        assert newer.last_modified >= older.last_modified
        if newer.last_modified == older.last_modified:
            assert (newer.name, older.name) in {
                ("step-20.pt", "step-9.pt"),
                ("step-20.pt", "dcp-b"),
                ("step-9.pt", "dcp-b"),
                ("step-100.pt", "dcp-a"),
            }
    assert found == list_checkpoints(f"{container.url}/run1/", credential=key)
    (first,) = [c for c in found if c.name == "step-20.pt"]
    assert isinstance(first, CheckpointInfo)
    assert first.url == f"{container.url}/run1/step-20.pt"
    assert not first.distributed
    assert first.size == len(b"run1/step-20.pt")
    assert first.last_modified.tzinfo is not None
    assert found[0].last_modified > found[-1].last_modified
    (dcp_b,) = [c for c in found if c.name == "dcp-b"]
    assert dcp_b.distributed
    assert dcp_b.url == f"{container.url}/run1/dcp-b"


def test_an_empty_or_missing_prefix_lists_nothing(container, key):
    assert list_checkpoints(f"{container.url}/nothing-here", credential=key) == []


def test_deleting_a_blob_checkpoint_deletes_only_that_blob(container, key):
    put(container, "run/a.pt", "run/a.pt.bak", "run/b.pt")
    assert delete_checkpoint(f"{container.url}/run/a.pt", credential=key) is True
    assert names(container) == ["run/a.pt.bak", "run/b.pt"]


def test_deleting_a_dcp_checkpoint_deletes_its_metadata_first(container, key, recorder):
    put(
        container,
        "run/ck/0a/__0_0.distcp",
        "run/ck/0a/__1_0.distcp",
        "run/ck/.metadata",
        "run/ck2/.metadata",
    )
    assert delete_checkpoint(f"{container.url}/run/ck", credential=key) is True
    assert names(container) == ["run/ck2/.metadata"]
    deletes = [urllib.parse.unquote(r.url) for r in recorder.requests if r.method == "DELETE"]
    # The first DELETE is for a blob named "run/ck" (none): a plain checkpoint is tried first.
    assert deletes[1].endswith("/run/ck/.metadata")
    assert len(deletes) == 4


def test_a_checkpoint_info_can_be_deleted(container, key):
    put(container, "run/ck/.metadata", "run/ck/d/__0_0.distcp")
    (info,) = list_checkpoints(f"{container.url}/run", credential=key)
    assert delete_checkpoint(info, credential=key) is True
    assert names(container) == []


def test_deleting_what_does_not_exist_is_not_an_error(container, key, azurite):
    assert delete_checkpoint(f"{container.url}/run/none.pt", credential=key) is False
    assert delete_checkpoint(f"{container.url}/run/none/", credential=key) is False
    missing_container = f"{azurite.blob_endpoint}/no-such-container-x/a.pt"
    assert delete_checkpoint(missing_container, credential=key) is False


def test_deleting_a_whole_container_is_refused(container, key):
    with pytest.raises(ValueError, match="names a whole container"):
        delete_checkpoint(container.url, credential=key)


def test_prune_keeps_the_newest_and_deletes_the_oldest_first(container, key):
    put(container, "run/old-1.pt", "run/old/.metadata", "run/old/d/__0_0.distcp")
    time.sleep(1.1)
    put(container, "run/new-1.pt", "run/new-2.pt")

    deleted = prune_checkpoints(f"{container.url}/run", keep_last=2, credential=key)

    assert {c.name for c in deleted} == {"old-1.pt", "old"}
    assert deleted[0].last_modified <= deleted[-1].last_modified
    assert names(container) == ["run/new-1.pt", "run/new-2.pt"]
    assert prune_checkpoints(f"{container.url}/run", keep_last=2, credential=key) == []


@pytest.mark.parametrize(
    ("value", "error"), [(0, ValueError), (-3, ValueError), (True, TypeError), (1.5, TypeError)]
)
def test_keep_last_below_one_or_not_an_integer_is_refused_before_any_request(value, error, key):
    url = "http://127.0.0.1:1/devstoreaccount1/c/run"  # nothing listens there
    with pytest.raises(error, match="keep_last"):
        prune_checkpoints(url, keep_last=value, credential=key)


@pytest.mark.parametrize(
    "url", ["/tmp/run1", "s3://bucket/run1", "http://127.0.0.1:1/devstoreaccount1"]
)
def test_a_url_that_names_no_container_folder_is_refused(url, key):
    with pytest.raises(ValueError):
        list_checkpoints(url, credential=key)


def container_sas(container, azurite, **permissions):
    return generate_container_sas(
        azurite.account_name,
        container.name,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(**permissions),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )


def test_a_sas_without_list_permission_raises_permission_error_without_the_signature(
    container, azurite
):
    put(container, "run/a.pt")
    sas = container_sas(container, azurite, read=True, delete=True)
    for call in (
        lambda: list_checkpoints(f"{container.url}/run?{sas}"),
        lambda: prune_checkpoints(f"{container.url}/run?{sas}", keep_last=1),
        lambda: list_checkpoints(f"{container.url}/run", credential=AzureSasCredential(sas)),
    ):
        with pytest.raises(PermissionError) as caught:
            call()
        assert isinstance(caught.value, BlobPermissionError)
        assert container.url in str(caught.value)
        assert "sig=" not in str(caught.value)
    assert names(container) == ["run/a.pt"]


def test_a_sas_without_delete_permission_raises_permission_error_and_keeps_the_blobs(
    container, azurite
):
    put(container, "run/a.pt", "run/b.pt")
    sas = container_sas(container, azurite, read=True, list=True)
    with pytest.raises(PermissionError) as caught:
        prune_checkpoints(f"{container.url}/run?{sas}", keep_last=1)
    assert f"{container.url}/run/" in str(caught.value)
    assert "sig=" not in str(caught.value)
    assert names(container) == ["run/a.pt", "run/b.pt"]
