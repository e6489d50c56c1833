"""BlobIO refuses bad arguments before sending any request."""

import subprocess
import sys

import pytest
from azure.core.credentials import AzureNamedKeyCredential

import azstoragetorch.io
from azstoragetorch.io import BlobIO
from azstoragetorch.io._writer import WriteOptions

URL = "http://127.0.0.1:1/devstoreaccount1/c/b"  # nothing listens: no request may be sent
KEY = AzureNamedKeyCredential("devstoreaccount1", "a2V5")


def test_public_names_are_pinned():
    assert azstoragetorch.io.__all__ == [
        "BackgroundSaver",
        "BlobIO",
        "CheckpointInfo",
        "SaveHandle",
        "delete_checkpoint",
        "list_checkpoints",
        "prune_checkpoints",
    ]


@pytest.mark.parametrize("mode", ["r", "w", "rb+", "ab", "xb", "", "RB"])
def test_unsupported_modes_name_the_valid_ones(mode):
    with pytest.raises(ValueError, match="supports 'rb' and 'wb'"):
        BlobIO(URL, mode, credential=KEY)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:1/devstoreaccount1/c", "names a container but no blob"),
        ("http://127.0.0.1:1/devstoreaccount1", "names no container"),
        ("s3://bucket/key", "Unsupported URL scheme"),
    ],
)
def test_urls_without_a_blob_are_refused(url, message):
    with pytest.raises(ValueError, match=message):
        BlobIO(url, "rb", credential=KEY)


def test_writing_to_a_snapshot_is_refused():
    with pytest.raises(ValueError, match="read-only"):
        BlobIO(URL + "?snapshot=2024-01-01", "wb", credential=KEY)


def test_unknown_keyword_arguments_are_refused():
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        BlobIO(URL, "rb", credential=KEY, buffering=0)


def test_a_credential_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="credential must be"):
        BlobIO(URL, "rb", credential="account-key")


def test_write_options_need_room_for_one_block():
    with pytest.raises(ValueError, match="at least one block"):
        WriteOptions(block_size=8, max_buffer=4)


def test_importing_io_pulls_in_neither_torch_nor_datasets_nor_identity():
    code = (
        "import sys, azstoragetorch.io;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'"
        " or m.startswith(('azure.identity', 'azstoragetorch.datasets'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
