"""Pytest plugin: one container of 10,001 tiny blobs for the whole session.

Uploading them takes Azurite a quarter of a minute, so the listing tests and the
load tests share it.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import NamedTuple

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient, ContainerClient

# One more than two full pages of the List Blobs API.
MANY = 10_001


class ManyBlobs(NamedTuple):
    """A container of ``MANY`` tiny blobs ``n/00000`` ... holding their index as text."""

    url: str
    names: list[str]
    client: ContainerClient
    credential: AzureNamedKeyCredential


def content_of(index: int) -> bytes:
    return b"%d" % index


@pytest.fixture(scope="session")
def many_blobs(azurite) -> Iterator[ManyBlobs]:  # type: ignore[no-untyped-def]
    """Made once per session, with bare keep-alive PUTs: the SDK's own CPU per upload,
    on the cores Azurite shares, made this take twice as long."""
    from _fixtures import container_sas

    name = f"many-{uuid.uuid4().hex}"
    names = [f"n/{index:05d}" for index in range(MANY)]
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        client = service.create_container(name)
        sas = container_sas(azurite, name, "cw")
        endpoint = urllib.parse.urlsplit(azurite.blob_endpoint)

        def upload(indexes: range) -> None:
            connection = http.client.HTTPConnection(endpoint.netloc, timeout=60)
            try:
                for index in indexes:
                    connection.request(
                        "PUT",
                        f"{endpoint.path}/{name}/{names[index]}?{sas}",
                        body=content_of(index),
                        headers={"x-ms-blob-type": "BlockBlob"},
                    )
                    response = connection.getresponse()
                    response.read()
                    if response.status != 201:
                        raise AssertionError(f"PUT {names[index]}: HTTP {response.status}")
            finally:
                connection.close()

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(upload, [range(start, MANY, 4) for start in range(4)]))
        try:
            yield ManyBlobs(
                f"{azurite.blob_endpoint}/{name}",
                names,
                client,
                AzureNamedKeyCredential(azurite.account_name, azurite.account_key),
            )
        finally:
            client.delete_container()
