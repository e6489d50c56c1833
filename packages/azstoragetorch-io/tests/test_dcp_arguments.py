"""The DCP writer and reader check their arguments before sending any request."""

import pickle

import pytest
from azure.core.credentials import AzureNamedKeyCredential

import azstoragetorch.io.dcp
from azstoragetorch.io.dcp import BlobStorageReader, BlobStorageWriter

URL = "http://127.0.0.1:1/devstoreaccount1/c/checkpoints/step-1"  # nothing listens
KEY = AzureNamedKeyCredential("devstoreaccount1", "a2V5")
BOTH = pytest.mark.parametrize("cls", [BlobStorageWriter, BlobStorageReader])


def test_public_names_are_pinned():
    assert azstoragetorch.io.dcp.__all__ == ["BlobStorageReader", "BlobStorageWriter"]


@BOTH
def test_a_url_without_a_container_is_refused(cls):
    with pytest.raises(ValueError, match="names no container"):
        cls("http://127.0.0.1:1/devstoreaccount1", credential=KEY)


@BOTH
def test_a_snapshot_is_refused(cls):
    with pytest.raises(ValueError, match="snapshot or version"):
        cls(f"{URL}?snapshot=2024-01-01T00:00:00Z", credential=KEY)


@BOTH
def test_an_unsupported_credential_is_refused(cls):
    with pytest.raises(TypeError, match="credential must be"):
        cls(URL, credential="account-key")  # type: ignore[arg-type]


@BOTH
def test_a_token_credential_over_http_is_refused(cls):
    with pytest.raises(ValueError, match="only allowed over https"):
        cls(URL)


@BOTH
def test_unknown_keyword_arguments_are_refused(cls):
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        cls(URL, credential=KEY, thread_count=4)


@BOTH
def test_the_location_is_a_folder_whatever_its_slashes(cls):
    assert cls(f"{URL}/", credential=KEY).checkpoint_id == URL
    root = "http://127.0.0.1:1/devstoreaccount1/c"
    assert cls(root, credential=KEY).checkpoint_id == root


@BOTH
def test_checkpoint_ids_that_name_a_container_are_recognised(cls):
    assert cls.validate_checkpoint_id("https://a.blob.core.windows.net/c/prefix")
    assert not cls.validate_checkpoint_id("https://a.blob.core.windows.net")
    assert not cls.validate_checkpoint_id("/local/checkpoints/step-1")


@BOTH
def test_reset_moves_to_another_location_and_hides_its_sas(cls):
    storage = cls(URL, credential=KEY)
    storage.reset("https://a.blob.core.windows.net/c/other?sv=1&sig=secret")
    assert storage.checkpoint_id == "https://a.blob.core.windows.net/c/other"
    assert "secret" not in repr(storage)


@BOTH
def test_it_pickles_for_a_process_based_async_save(cls):
    storage = cls(URL, credential=KEY)
    storage._location.client("x")  # builds the pipeline, which itself cannot be pickled
    copy = pickle.loads(pickle.dumps(storage))
    assert copy.checkpoint_id == URL
    assert copy._location.client("x").url.blob_name == "checkpoints/step-1/x"


def test_saving_without_collectives_is_refused_with_the_reason():
    writer = BlobStorageWriter(URL, credential=KEY)
    with pytest.raises(ValueError, match="use_collectives=True"):
        writer.set_up_storage_writer(True, rank=0, use_collectives=False)
