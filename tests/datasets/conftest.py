"""Fixtures of the dataset tests.

This folder goes on ``sys.path`` so that ``_dataset_children`` (transforms and
functions for child processes) is importable by name in ``spawn`` and
``forkserver`` children, which inherit the parent's ``sys.path``.
"""

from __future__ import annotations

import concurrent.futures
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient, ContainerClient

from azstoragetorch._core import _transport

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

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


@pytest.fixture
def blobs(container, upload):  # type: ignore[no-untyped-def]
    """Upload ``{name: data}`` to the test's container; returns the blob URLs in name order."""

    def _blobs(contents: dict[str, bytes]) -> list[str]:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: upload(*item), contents.items()))
        return [f"{container.url}/{name}" for name in sorted(contents)]

    return _blobs


class InFlight:
    """Wraps the process's transport and notes how many requests are sent at once."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self._inner = inner
        self._lock = threading.Lock()
        self._current = 0
        self.peak = 0

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            self._current += 1
            self.peak = max(self.peak, self._current)
        try:
            return self._inner.send(request, **kwargs)
        finally:
            with self._lock:
                self._current -= 1


@pytest.fixture
def in_flight(monkeypatch) -> InFlight:  # type: ignore[no-untyped-def]
    tracker = InFlight(_transport.shared_transport())
    monkeypatch.setattr(_transport, "shared_transport", lambda: tracker)
    return tracker
