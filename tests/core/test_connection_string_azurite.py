"""Every connection-string form against Azurite: BlobIO, the datasets and transfers.

``UseDevelopmentStorage=true`` means the emulator on 127.0.0.1:10000. The test
puts a forwarding proxy on that port in front of the session's Azurite; if the port
is taken, whatever listens there must be an emulator with the well-known account,
and the test runs against it.
"""

from __future__ import annotations

import datetime
import errno
import uuid
from collections.abc import Iterator

import pytest
from _fault_proxy import FaultProxy
from azure.storage.blob import (
    AccountSasPermissions,
    BlobServiceClient,
    ResourceTypes,
    generate_account_sas,
)

from azstoragetorch.credentials import ConnectionString
from azstoragetorch.datasets import BlobDataset
from azstoragetorch.exceptions import BlobPermissionError
from azstoragetorch.io import BlobIO, transfer

pytestmark = pytest.mark.azurite


def _account_sas(azurite) -> str:  # type: ignore[no-untyped-def]
    return generate_account_sas(
        azurite.account_name,
        azurite.account_key,
        resource_types=ResourceTypes(container=True, object=True),
        permission=AccountSasPermissions(read=True, write=True, list=True, create=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )


def _check_every_api(conn: ConnectionString, container: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Write with BlobIO, read with a dataset, upload and download a tree."""
    with BlobIO(conn.url(container, "ckpt/model.pt"), "wb", credential=conn.credential) as f:
        f.write(b"weights")
    with BlobIO(conn.url(container, "ckpt/model.pt"), "rb", credential=conn.credential) as f:
        assert f.read() == b"weights"
    dataset = BlobDataset.from_container_url(
        conn.url(container), prefix="ckpt/", credential=conn.credential
    )
    assert [sample["data"] for sample in dataset] == [b"weights"]
    (tmp_path / "src" / "cats").mkdir(parents=True)
    (tmp_path / "src" / "cats" / "0.png").write_bytes(b"png")
    up = transfer.upload(tmp_path / "src", conn.url(container, "data/"), credential=conn.credential)
    assert up.transferred == ("data/cats/0.png",)
    down = transfer.download(
        conn.url(container, "data/"), tmp_path / "dst", credential=conn.credential
    )
    assert down.ok
    assert (tmp_path / "dst" / "cats" / "0.png").read_bytes() == b"png"
    names = [e.name for e in transfer.list(conn.url(container), credential=conn.credential)]
    assert names == ["ckpt/model.pt", "data/cats/0.png"]


def test_account_name_and_key(azurite, container, tmp_path):
    conn = ConnectionString.parse(azurite.connection_string)
    _check_every_api(conn, container.name, tmp_path)


def test_blob_endpoint_and_shared_access_signature(azurite, container, tmp_path):
    conn = ConnectionString.parse(
        f"BlobEndpoint={azurite.blob_endpoint};SharedAccessSignature={_account_sas(azurite)}"
    )
    _check_every_api(conn, container.name, tmp_path)


def test_a_read_only_signature_is_refused_for_writes(azurite, container, tmp_path):
    sas = generate_account_sas(
        azurite.account_name,
        azurite.account_key,
        resource_types=ResourceTypes(container=True, object=True),
        permission=AccountSasPermissions(read=True, list=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )
    conn = ConnectionString.parse(
        f"BlobEndpoint={azurite.blob_endpoint};SharedAccessSignature={sas}"
    )
    (tmp_path / "a.bin").write_bytes(b"a")
    with pytest.raises(BlobPermissionError) as raised:
        transfer.upload(
            tmp_path / "a.bin", conn.url(container.name, "a.bin"), credential=conn.credential
        )
    assert sas.split("sig=")[1][:12] not in str(raised.value)


def test_blob_endpoint_alone_reads_a_public_container(azurite, container, tmp_path):
    container.client.set_container_access_policy({}, public_access="container")
    container.client.upload_blob("cats/0.png", b"png")
    conn = ConnectionString.parse(f"BlobEndpoint={azurite.blob_endpoint}")
    assert conn.credential is False
    with BlobIO(conn.url(container.name, "cats/0.png"), "rb", credential=conn.credential) as f:
        assert f.read() == b"png"
    dataset = BlobDataset.from_container_url(conn.url(container.name), credential=conn.credential)
    assert len(dataset) == 1
    summary = transfer.download(conn.url(container.name), tmp_path / "dst", credential=False)
    assert summary.transferred == (str(tmp_path / "dst" / "cats" / "0.png"),)


@pytest.fixture
def development_storage(azurite) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """The emulator's default endpoint, 127.0.0.1:10000, reaching an Azurite."""
    try:
        proxy = FaultProxy(azurite.port, listen_port=10000)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        yield  # something listens there already: it must be an emulator
        return
    with proxy:
        yield


def test_use_development_storage(development_storage, tmp_path):
    conn = ConnectionString.parse("UseDevelopmentStorage=true")
    name = f"devstore-{uuid.uuid4().hex[:12]}"
    # The SDK reads the same string its own way: both must reach the same account.
    with BlobServiceClient.from_connection_string("UseDevelopmentStorage=true") as service:
        service.create_container(name)
        try:
            _check_every_api(conn, name, tmp_path)
        finally:
            service.delete_container(name)
