import pickle

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

import azstoragetorch.exceptions as exceptions
from azstoragetorch.exceptions import (
    AZStorageTorchError,
    BlobModifiedError,
    BlobNotFoundError,
    BlobPermissionError,
    BlobServiceError,
    CheckpointExistsError,
    CheckpointMetadataError,
    ClientRequestIdMismatchError,
    FatalBlobIOWriteError,
)


def test_public_names_are_pinned():
    assert sorted(exceptions.__all__) == [
        "AZStorageTorchError",
        "BlobModifiedError",
        "BlobNotFoundError",
        "BlobPermissionError",
        "BlobServiceError",
        "CheckpointExistsError",
        "CheckpointMetadataError",
        "ClientRequestIdMismatchError",
        "FatalBlobIOWriteError",
    ]


@pytest.mark.parametrize(
    ("error", "also"),
    [
        (BlobNotFoundError, (FileNotFoundError, ResourceNotFoundError, HttpResponseError)),
        (BlobPermissionError, (PermissionError, ClientAuthenticationError, HttpResponseError)),
        (BlobModifiedError, (ResourceModifiedError, HttpResponseError)),
        (BlobServiceError, (HttpResponseError,)),
        (ClientRequestIdMismatchError, ()),
        (FatalBlobIOWriteError, ()),
        (CheckpointExistsError, (FileExistsError,)),
        (CheckpointMetadataError, (ValueError,)),
    ],
)
def test_errors_can_be_caught_as_the_types_users_already_catch(error, also):
    assert issubclass(error, AZStorageTorchError)
    for base in also:
        assert issubclass(error, base)


def test_service_errors_keep_status_and_error_code_and_survive_pickling():
    error = BlobNotFoundError("blob x is missing", status_code=404, error_code="BlobNotFound")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is BlobNotFoundError
    assert (str(copy), copy.status_code, copy.error_code) == (
        "blob x is missing",
        404,
        "BlobNotFound",
    )


def test_client_request_id_mismatch_keeps_the_three_ids():
    error = ClientRequestIdMismatchError("sent", "got", "svc")
    assert (error.request_client_id, error.response_client_id, error.service_request_id) == (
        "sent",
        "got",
        "svc",
    )
    assert "'got'" in str(error)
    assert "'sent'" in str(error)
    assert "'svc'" in str(error)
    # The datasets support reading in the main process and in workers alike
    # (docs/datasets.rst): the message must not advise against it.
    assert "main process" not in str(error)
    assert "report" in str(error)
    assert pickle.loads(pickle.dumps(error)).service_request_id == "svc"


def test_fatal_write_error_chains_its_cause():
    cause = OSError("disk on fire")
    error = FatalBlobIOWriteError(cause)
    assert error.underlying_exception is cause
    assert error.__cause__ is cause
    assert "disk on fire" in str(error)


@pytest.mark.parametrize("error", [CheckpointExistsError, CheckpointMetadataError])
def test_checkpoint_errors_survive_pickling_between_ranks(error):
    # torch.distributed.checkpoint gathers each rank's exception by pickling it.
    copy = pickle.loads(pickle.dumps(error("at https://a/c/p")))
    assert type(copy) is error
    assert str(copy) == "at https://a/c/p"
