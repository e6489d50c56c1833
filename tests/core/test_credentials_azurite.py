"""Every credential mode, for real, against Azurite (BlobIO is the client)."""

import datetime

import azurite as azurite_rig
import pytest
from _azurite_credentials import StaticTokenCredential
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

from azstoragetorch.exceptions import BlobPermissionError
from azstoragetorch.io import BlobIO


def sas_for(azurite, container, name, **permissions):
    return generate_blob_sas(
        azurite.account_name,
        container.name,
        name,
        account_key=azurite.account_key,
        permission=BlobSasPermissions(**permissions),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )


@pytest.mark.azurite_only  # needs the account key
def test_account_key(container, key):
    url = f"{container.url}/key.bin"
    with BlobIO(url, "wb", credential=key) as f:
        f.write(b"by key")
    with BlobIO(url, "rb", credential=key) as f:
        assert f.read() == b"by key"


def test_sas_in_the_url_wins_over_the_credential_argument(azurite, container):
    sas = sas_for(azurite, container, "sas.bin", read=True, write=True, create=True)
    url = f"{container.url}/sas.bin?{sas}"
    wrong_key = AzureNamedKeyCredential(azurite.account_name, "d3Jvbmc=")
    with BlobIO(url, "wb", credential=wrong_key) as f:
        f.write(b"by sas")
    with BlobIO(url, "rb") as f:  # no credential: DefaultAzureCredential is never made
        assert f.read() == b"by sas"


def test_azure_sas_credential(azurite, container):
    sas = sas_for(azurite, container, "sascred.bin", read=True, write=True, create=True)
    url = f"{container.url}/sascred.bin"
    with BlobIO(url, "wb", credential=AzureSasCredential(sas)) as f:
        f.write(b"by sas credential")
    with BlobIO(url, "rb", credential=AzureSasCredential(sas)) as f:
        assert f.read() == b"by sas credential"


def test_anonymous_reads_a_public_container(azurite, container):
    container.client.set_container_access_policy({}, public_access="blob")
    container.client.upload_blob("public.bin", b"for everyone")
    with BlobIO(f"{container.url}/public.bin", "rb", credential=False) as f:
        assert f.read() == b"for everyone"


def test_anonymous_is_refused_on_a_private_container(container):
    container.client.upload_blob("private.bin", b"secret data")
    with pytest.raises(BlobPermissionError) as caught:
        BlobIO(f"{container.url}/private.bin", "rb", credential=False)
    assert isinstance(caught.value, PermissionError)


def test_a_sas_without_write_permission_is_a_permission_error(azurite, container):
    container.client.upload_blob("ro.bin", b"keep")
    sas = sas_for(azurite, container, "ro.bin", read=True)
    with BlobIO(f"{container.url}/ro.bin?{sas}", "rb") as f:
        assert f.read() == b"keep"
    signature = sas.split("sig=")[1].split("&")[0]
    writer = BlobIO(f"{container.url}/ro.bin?{sas}", "wb")
    writer.write(b"overwrite")
    with pytest.raises(Exception) as caught:
        writer.close()
    assert isinstance(caught.value.__cause__, PermissionError)
    assert signature not in str(caught.value)
    assert signature not in repr(caught.value.__cause__)


@pytest.fixture
def https_container(azurite_https, monkeypatch):
    # Trust the rig's self-made certificate the way users trust a private CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_https.ca_cert_path))
    credential = StaticTokenCredential(azurite_rig.make_oauth_token())
    service = BlobServiceClient(
        azurite_https.blob_endpoint,
        credential=credential,
        connection_verify=str(azurite_https.ca_cert_path),
    )
    client = service.create_container("tokens")
    yield f"{azurite_https.blob_endpoint}/tokens"
    client.delete_container()


def test_token_credential_over_https(https_container):
    credential = StaticTokenCredential(azurite_rig.make_oauth_token())
    url = f"{https_container}/token.bin"
    with BlobIO(url, "wb", credential=credential) as f:
        f.write(b"by token")
    with BlobIO(url, "rb", credential=credential) as f:
        assert f.read() == b"by token"
    assert credential.calls >= 1


def test_an_expired_token_is_a_permission_error(https_container):
    expired = StaticTokenCredential(azurite_rig.make_oauth_token(expires_in=-600))
    with pytest.raises(BlobPermissionError, match="Not authorised"):
        BlobIO(f"{https_container}/nothing.bin", "rb", credential=expired)


@pytest.mark.azurite_only  # needs an http endpoint
def test_a_token_credential_over_http_is_refused_before_any_request(container, recorder):
    with pytest.raises(ValueError, match="only allowed over https"):
        BlobIO(
            f"{container.url}/b",
            "rb",
            credential=StaticTokenCredential(azurite_rig.make_oauth_token()),
        )
    assert recorder.requests == []
