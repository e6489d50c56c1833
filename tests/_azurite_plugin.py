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
    A fresh, uniquely named container on the test's storage rig, deleted afterwards:
    ``AzuriteContainer(name, url, client)`` where ``url`` is the container URL
    without a query and ``client`` a ``ContainerClient`` (SharedKey on Azurite).
``rig`` (function)
    Which storage the test runs against: ``"azurite"``, or ``"live"``.
``live_credential`` (session)
    The credential of the live account: an ``AzureSasCredential`` when
    ``AZSTORAGETORCH_LIVE_ACCOUNT_URL`` carries a SAS, else ``DefaultAzureCredential``.

The live tier: when ``AZSTORAGETORCH_LIVE_ACCOUNT_URL`` names a storage account
(``https://<account>.blob.core.windows.net``, optionally with an account SAS that
may create and delete containers), every test that can run against a real account
is collected twice, ``[azurite]`` and ``[live]`` (marked ``live``). A test can run
live when it reaches storage only through ``container`` and ``key`` (which is then
the live credential) and is not marked ``azurite_only``. Each live test gets its own
container, named ``aztt-<run>-<n>``, deleted when the test ends, pass or fail; at the
end of the session every container of the run that is still there is deleted too.
With the variable unset, no live test is collected at all.

If Azurite cannot be installed or started the fixtures fail the test: a test
that needs Azurite and cannot reach it must not pass as skipped.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import azurite as azurite_rig
import pytest
from azure.core.credentials import AzureSasCredential
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


LIVE_ENV = "AZSTORAGETORCH_LIVE_ACCOUNT_URL"
LIVE_PREFIX = "aztt-"
# Fixtures that reach Azurite itself (its key, its connection string, a second
# instance, the fault proxy in front of it): a test using one cannot run live.
_AZURITE_BOUND = {"azurite", "azurite_https", "proxy"}
# The only fixtures through which a live-capable test may reach storage.
_RIG_AWARE = {"container", "key", "rig"}


def _live_url() -> str | None:
    return os.environ.get(LIVE_ENV) or None


def _live_capable(metafunc: pytest.Metafunc) -> bool:
    if "container" not in metafunc.fixturenames:
        return False
    if metafunc.definition.get_closest_marker("azurite_only") is not None:
        return False
    direct = set(metafunc.definition._fixtureinfo.argnames)
    if direct & _AZURITE_BOUND:
        return False
    # pytest keeps the fixture definitions of the closure here (no public accessor).
    for name, definitions in metafunc._arg2fixturedefs.items():
        if name in _RIG_AWARE or name in _AZURITE_BOUND:
            continue
        if set(definitions[-1].argnames) & _AZURITE_BOUND:
            return False  # a helper fixture that talks to Azurite directly
    return True


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if _live_url() is not None and _live_capable(metafunc):
        metafunc.parametrize(
            "rig", ["azurite", pytest.param("live", marks=pytest.mark.live)], indirect=True
        )


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> str:
    """``"live"`` for the live copy of a test, ``"azurite"`` otherwise."""
    return str(getattr(request, "param", "azurite"))


class _LiveAccount:
    """The account named by ``AZSTORAGETORCH_LIVE_ACCOUNT_URL``, and this run's containers."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.endpoint = urllib.parse.urlunsplit(parts._replace(query="", fragment="")).rstrip("/")
        self.credential: Any
        if parts.query:
            self.credential = AzureSasCredential(parts.query)
        else:
            from azure.identity import DefaultAzureCredential

            self.credential = DefaultAzureCredential()
        self.service = BlobServiceClient(self.endpoint, credential=self.credential)
        self.run = f"{LIVE_PREFIX}{uuid.uuid4().hex[:12]}-"
        self._numbers = itertools.count(1)

    def new_container_name(self) -> str:
        return f"{self.run}{next(self._numbers)}"

    def delete_leftovers(self) -> None:
        for item in self.service.list_containers(name_starts_with=self.run):
            with contextlib.suppress(ResourceNotFoundError):
                self.service.delete_container(item.name)


@pytest.fixture(scope="session")
def live_account() -> Iterator[_LiveAccount]:
    url = _live_url()
    if url is None:  # only live tests ask for it, and they exist only when it is set
        pytest.fail(f"{LIVE_ENV} is not set", pytrace=False)
    account = _LiveAccount(url)
    try:
        yield account
    finally:
        account.delete_leftovers()
        account.service.close()


@pytest.fixture(scope="session")
def live_credential(live_account: _LiveAccount) -> Any:
    return live_account.credential


@pytest.fixture
def container(rig: str, request: pytest.FixtureRequest) -> Iterator[AzuriteContainer]:
    """A fresh container on the test's rig, removed after the test, pass or fail."""
    with contextlib.ExitStack() as stack:
        if rig == "live":
            account: _LiveAccount = request.getfixturevalue("live_account")
            name = account.new_container_name()
            service = account.service  # the session's, closed at its end
            endpoint = account.endpoint
        else:
            azurite: azurite_rig.AzuriteInstance = request.getfixturevalue("azurite")
            name = f"test-{uuid.uuid4().hex}"
            # The container client shares this client's transport: keep it open.
            service = stack.enter_context(
                BlobServiceClient.from_connection_string(azurite.connection_string)
            )
            endpoint = azurite.blob_endpoint
        client = service.create_container(name)
        try:
            yield AzuriteContainer(name, f"{endpoint}/{name}", client)
        finally:
            # A test may already have deleted it; that is not a teardown error.
            with contextlib.suppress(ResourceNotFoundError):
                client.delete_container()
            client.close()
