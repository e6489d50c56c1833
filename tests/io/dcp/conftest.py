"""Fixtures of the distributed checkpoint tests.

This folder is on ``sys.path`` (pytest's ``pythonpath`` setting) so that
``_dcp_children`` (the code each rank runs) is importable by name in the ``spawn``
children of ``torch.multiprocessing``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient


@pytest.fixture(scope="module")
def module_container(azurite) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A container shared by one module's tests: multi-rank runs are too slow to repeat."""
    name = f"dcp-{uuid.uuid4().hex}"
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        client = service.create_container(name)
        try:
            yield f"{azurite.blob_endpoint}/{name}"
        finally:
            client.delete_container()
