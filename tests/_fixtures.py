"""Fixtures shared by the functional tests."""

from __future__ import annotations

import datetime
import os
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import ContainerSasPermissions, generate_container_sas


@pytest.fixture
def key(rig: str, request: pytest.FixtureRequest) -> Any:
    """The emulator's account key as a credential; on the live rig, the live credential."""
    if rig == "live":
        return request.getfixturevalue("live_credential")
    azurite = request.getfixturevalue("azurite")
    return AzureNamedKeyCredential(azurite.account_name, azurite.account_key)


@pytest.fixture
def blob_url(container) -> str:  # type: ignore[no-untyped-def]
    """The URL of a blob that does not exist yet, with a name that needs quoting."""
    return f"{container.url}/dir/a b%23c+d.pt"


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Incompressible, repeatable test data (os.urandom is not repeatable)."""
    import random

    return random.Random(seed).randbytes(size) if size else b""


@pytest.fixture
def upload(container):  # type: ignore[no-untyped-def]
    """Upload bytes with the SDK (independent of BlobIO); returns the blob's URL."""

    def _upload(name: str, data: bytes) -> str:
        container.client.upload_blob(name, data, overwrite=True)
        return f"{container.url}/{name}"

    return _upload


def container_sas(azurite, container: str, permissions: str, *, expired: bool = False) -> str:  # type: ignore[no-untyped-def]
    """A SAS token (no leading ``?``) for the container named ``container``.

    :param permissions: As the SAS ``sp`` field spells them, e.g. ``"rl"`` (read, list).
    :param expired: Expired an hour ago instead of valid for an hour.
    """
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        hours=-1 if expired else 1
    )
    return generate_container_sas(  # type: ignore[no-any-return]
        azurite.account_name,
        container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions.from_string(permissions),
        expiry=expiry,
    )


def download(container, name: str) -> bytes:  # type: ignore[no-untyped-def]
    """The blob's bytes, read with the SDK."""
    return container.client.download_blob(name).readall()  # type: ignore[no-any-return]


__all__ = ["container_sas", "download", "os", "random_bytes"]
