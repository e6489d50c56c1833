"""Pytest plugin: Azurite blob services shared by the whole test session.

Register it from a conftest with ``pytest_plugins = ["_azurite_plugin"]``
(``tests/`` and ``tools/`` on ``sys.path``: pytest's ``pythonpath`` setting).
Fixtures:

``azurite`` (session)
    Plain-HTTP Azurite, SharedKey auth. An ``azurite.AzuriteInstance``:
    ``blob_endpoint``, ``connection_string``, ``account_name``, ``account_key``,
    ``port``, ``pid``, ``scheme`` ("http"), ``location``, ``ca_cert_path`` (None).
``azurite_https`` (session)
    HTTPS Azurite with ``--oauth basic``. Same attributes; ``scheme`` is
    "https" and ``ca_cert_path`` is the certificate to trust. Authenticate with
    ``StaticTokenCredential(azurite.make_oauth_token())`` from
    ``_azurite_credentials`` (SharedKey works too).
``container`` (function)
    A fresh, uniquely named container on ``azurite``, deleted afterwards:
    ``AzuriteContainer(name, url, client)`` where ``url`` is the container URL
    without a query and ``client`` a SharedKey ``ContainerClient``.

If Azurite cannot be installed or started the fixtures fail the test: a test
that needs Azurite and cannot reach it must not pass as skipped.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import NamedTuple

import azurite as azurite_rig
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient


class AzuriteContainer(NamedTuple):
    """A container made for one test on the HTTP Azurite."""

    name: str
    url: str
    client: ContainerClient


def _start_or_fail(https: bool, oauth: bool) -> azurite_rig.AzuriteInstance:
    try:
        return azurite_rig.start(https=https, oauth=oauth)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
    # Failing outside the except block keeps the report to our one message.
    kind = "HTTPS+OAuth" if https else "HTTP"
    pytest.fail(f"Azurite ({kind}) could not be installed or started: {reason}", pytrace=False)


def _serve(*, https: bool) -> Iterator[azurite_rig.AzuriteInstance]:
    instance = _start_or_fail(https=https, oauth=https)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session", name="azurite")
def _azurite_http() -> Iterator[azurite_rig.AzuriteInstance]:
    yield from _serve(https=False)


@pytest.fixture(scope="session", name="azurite_https")
def _azurite_https() -> Iterator[azurite_rig.AzuriteInstance]:
    yield from _serve(https=True)


@pytest.fixture
def container(azurite: azurite_rig.AzuriteInstance) -> Iterator[AzuriteContainer]:
    """A fresh container on the HTTP Azurite, removed after the test."""
    name = f"test-{uuid.uuid4().hex}"
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        client = service.create_container(name)
        try:
            yield AzuriteContainer(name, f"{azurite.blob_endpoint}/{name}", client)
        finally:
            # A test may already have deleted it; that is not a teardown error.
            with contextlib.suppress(ResourceNotFoundError):
                client.delete_container()
            client.close()
