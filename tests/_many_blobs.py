"""Pytest plugin: one container of 10,001 tiny blobs for the whole session.

Uploading them takes Azurite most of a minute, so the listing tests and the load
tests share it.
"""

from __future__ import annotations

import concurrent.futures
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
    """Made once per session: uploading 10,001 blobs takes Azurite most of a minute."""
    name = f"many-{uuid.uuid4().hex}"
    names = [f"n/{index:05d}" for index in range(MANY)]
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        client = service.create_container(name)

        def upload(index: int) -> None:
            client.upload_blob(names[index], content_of(index))

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(upload, range(MANY)))
        try:
            yield ManyBlobs(
                f"{azurite.blob_endpoint}/{name}",
                names,
                client,
                AzureNamedKeyCredential(azurite.account_name, azurite.account_key),
            )
        finally:
            client.delete_container()
