"""Datasets authorise listing and reading with every kind of credential, for real."""

import azurite as azurite_rig
import pytest
from _azurite_credentials import StaticTokenCredential
from _fixtures import container_sas
from azure.core.credentials import AzureSasCredential
from azure.storage.blob import BlobServiceClient

from azstoragetorch.datasets import BlobDataset, IterableBlobDataset
from azstoragetorch.exceptions import BlobPermissionError

DATASETS = pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])


def data_of(dataset):
    return [sample["data"] for sample in dataset]


@pytest.fixture
def https_container(azurite_https, monkeypatch):
    # Trust the rig's self-made certificate the way users trust a private CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_https.ca_cert_path))
    service = BlobServiceClient(
        azurite_https.blob_endpoint,
        credential=StaticTokenCredential(azurite_rig.make_oauth_token()),
        connection_verify=str(azurite_https.ca_cert_path),
    )
    client = service.create_container("dataset-tokens")
    client.upload_blob("t/1", b"one")
    client.upload_blob("t/2", b"two")
    yield f"{azurite_https.blob_endpoint}/dataset-tokens"
    client.delete_container()


@DATASETS
def test_a_token_credential_over_https(dataset_cls, https_container):
    credential = StaticTokenCredential(azurite_rig.make_oauth_token())
    dataset = dataset_cls.from_container_url(https_container, credential=credential)
    assert data_of(dataset) == [b"one", b"two"]
    assert credential.calls >= 1


def test_an_expired_token_is_a_permission_error_when_listing(https_container):
    expired = StaticTokenCredential(azurite_rig.make_oauth_token(expires_in=-600))
    with pytest.raises(BlobPermissionError, match="Not authorised"):
        BlobDataset.from_container_url(https_container, credential=expired)


@DATASETS
def test_an_azure_sas_credential(dataset_cls, azurite, blobs, container):
    blobs({"a": b"1", "b": b"2"})
    sas = container_sas(azurite, container.name, "rl")
    dataset = dataset_cls.from_container_url(container.url, credential=AzureSasCredential(sas))
    assert data_of(dataset) == [b"1", b"2"]


@pytest.mark.azurite_only  # making a container public needs the account key (no SAS may)
@DATASETS
def test_anonymous_access_to_a_public_container(dataset_cls, blobs, container):
    container.client.set_container_access_policy({}, public_access="container")
    blobs({"p/1": b"public"})
    dataset = dataset_cls.from_container_url(container.url, credential=False)
    assert data_of(dataset) == [b"public"]


def test_anonymous_listing_of_a_private_container_is_refused(blobs, container):
    blobs({"secret": b"x"})
    with pytest.raises(BlobPermissionError):
        BlobDataset.from_container_url(container.url, credential=False)
