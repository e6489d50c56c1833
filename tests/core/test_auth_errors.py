"""Auth failures a person can act on: each is a PermissionError, at once, that names
the credential tried, the URL (never its SAS) and what to do. Real Azurite answers."""

from __future__ import annotations

import datetime
import time

import azurite as azurite_rig
import pytest
from _azurite_credentials import StaticTokenCredential
from _identity_endpoint import serve
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

from azstoragetorch._core import _credentials
from azstoragetorch.datasets import BlobDataset
from azstoragetorch.exceptions import BlobPermissionError
from azstoragetorch.io import BlobIO

# Well under one backoff of the retry policy: an auth failure is never retried.
QUICK = 10.0


def sas_for(azurite, container, name, expiry_hours, **permissions):
    return generate_blob_sas(
        azurite.account_name,
        container.name,
        name,
        account_key=azurite.account_key,
        permission=BlobSasPermissions(**permissions),
        expiry=datetime.datetime.now(datetime.timezone.utc)
        + datetime.timedelta(hours=expiry_hours),
    )


@pytest.fixture
def https_container(azurite_https, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_https.ca_cert_path))
    service = BlobServiceClient(
        azurite_https.blob_endpoint,
        credential=StaticTokenCredential(azurite_rig.make_oauth_token()),
        connection_verify=str(azurite_https.ca_cert_path),
    )
    client = service.create_container(f"auth{time.time_ns()}")
    client.upload_blob("b.bin", b"data")
    yield f"{azurite_https.blob_endpoint}/{client.container_name}"
    client.delete_container()


@pytest.fixture
def no_login(monkeypatch, tmp_path):
    """An environment where DefaultAzureCredential finds nothing: a laptop with no login."""
    import os

    for name in list(os.environ):
        if name.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no az, azd or pwsh to ask
    # No managed identity: the instance metadata endpoint is refused at once.
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9")
    _credentials._default.reset()
    yield
    _credentials._default.reset()


def assert_actionable(error: BaseException, url: str, *needles: str) -> None:
    message = str(error)
    assert isinstance(error, PermissionError)
    assert url.split("?")[0] in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_default_credential_with_no_login_says_what_to_do(https_container, no_login, recorder):
    url = f"{https_container}/b.bin"
    started = time.monotonic()
    with pytest.raises(BlobPermissionError) as caught:
        BlobIO(url, "rb")
    elapsed = time.monotonic() - started
    assert_actionable(
        caught.value,
        url,
        "DefaultAzureCredential",
        "az login",
        "AZURE_CLIENT_ID",
        "managed identity",
    )
    # The cause keeps azure-identity's own account of each credential it tried.
    assert "AzureCliCredential" in str(caught.value.__cause__)
    assert recorder.requests == []  # no request without a token, so nothing retried
    assert elapsed < QUICK


def test_default_credential_with_no_login_fails_a_listing_the_same_way(https_container, no_login):
    with pytest.raises(BlobPermissionError) as caught:
        BlobDataset.from_container_url(https_container)
    assert_actionable(caught.value, https_container, "az login", "AZURE_CLIENT_ID")


def test_a_failing_token_request_names_the_credential(https_container, no_login, monkeypatch):
    from azure.identity import ManagedIdentityCredential

    url = f"{https_container}/b.bin"
    with serve() as endpoint:
        monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.url)
        monkeypatch.setenv("IDENTITY_HEADER", "not-the-secret")  # the endpoint answers 401
        started = time.monotonic()
        with pytest.raises(BlobPermissionError) as caught:
            BlobIO(url, "rb", credential=ManagedIdentityCredential())
        elapsed = time.monotonic() - started
    assert_actionable(caught.value, url, "ManagedIdentityCredential")
    assert "not-the-secret" not in str(caught.value)
    assert elapsed < QUICK


def test_an_expired_sas_says_to_make_a_new_one(azurite, container, recorder):
    container.client.upload_blob("b.bin", b"data")
    sas = sas_for(azurite, container, "b.bin", -1, read=True)
    url = f"{container.url}/b.bin?{sas}"
    with pytest.raises(BlobPermissionError) as caught:
        BlobIO(url, "rb")
    assert_actionable(caught.value, url, "SAS token in the URL", "The SAS expired at")
    assert sas.split("sig=")[1].split("&")[0] not in str(caught.value)
    assert len(recorder.requests) == 1  # not retried


def test_a_sas_lacking_read_permission_names_the_permission(azurite, container, recorder):
    container.client.upload_blob("b.bin", b"data")
    sas = sas_for(azurite, container, "b.bin", 1, write=True)
    url = f"{container.url}/b.bin?{sas}"
    with pytest.raises(BlobPermissionError) as caught:
        BlobIO(url, "rb")
    assert_actionable(caught.value, url, "SAS token in the URL", "reading needs 'r'")
    assert len(recorder.requests) == 1


def test_a_wrong_account_key_names_the_account(azurite, container, recorder):
    container.client.upload_blob("b.bin", b"data")
    url = f"{container.url}/b.bin"
    wrong = AzureNamedKeyCredential(azurite.account_name, "d3Jvbmcga2V5")
    with pytest.raises(BlobPermissionError) as caught:
        BlobIO(url, "rb", credential=wrong)
    assert_actionable(caught.value, url, "AzureNamedKeyCredential", azurite.account_name)
    assert "account key was refused" in str(caught.value)
    assert "d3Jvbmcga2V5" not in str(caught.value)
    assert len(recorder.requests) == 1


def test_a_credential_of_the_wrong_type_is_a_type_error_even_with_a_sas(
    azurite, container, recorder
):
    sas = sas_for(azurite, container, "b.bin", 1, read=True)
    with pytest.raises(TypeError, match="credential must be"):
        BlobIO(f"{container.url}/b.bin?{sas}", "rb", credential="my-account-key")
    with pytest.raises(TypeError, match="credential must be"):
        BlobDataset.from_blob_urls([f"{container.url}/b.bin?{sas}"], credential=42)
    assert recorder.requests == []
