"""A real forward proxy (proxy.py from PyPI) on 127.0.0.1, and targets behind it.

This folder goes on ``sys.path`` so that ``_proxy_children`` (the code each DCP rank
runs) is importable by name in ``spawn`` children.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import azurite as azurite_rig
import pytest
from _azurite_credentials import StaticTokenCredential
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from _routes import fresh_transport  # noqa: E402

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@dataclasses.dataclass
class ForwardProxy:
    """A running proxy.py: where it listens, its credentials, and its log."""

    port: int
    user: str
    password: str
    log: Path

    def url(self, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"http://{self.user}:{secret}@127.0.0.1:{self.port}"

    def lines_for(self, port: int) -> list[str]:
        """The proxy's access-log lines about requests to ``127.0.0.1:port``."""
        text = self.log.read_text(errors="replace")
        return [line for line in text.splitlines() if f"127.0.0.1:{port}" in line]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def forward_proxy(tmp_path_factory) -> Iterator[ForwardProxy]:
    """proxy.py with basic auth, started for the session and stopped after it."""
    port = _free_port()
    log = tmp_path_factory.mktemp("proxy") / "proxy.log"
    proxy = ForwardProxy(port, "trainer", f"pw-{secrets.token_hex(8)}", log)
    command = [
        sys.executable,
        "-m",
        "proxy",
        "--hostname",
        "127.0.0.1",
        "--port",
        str(port),
        "--basic-auth",
        f"{proxy.user}:{proxy.password}",
        "--num-acceptors",
        "1",
        "--log-level",
        "INFO",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"proxy.py did not start: {log.read_text()}", pytrace=False)
                time.sleep(0.1)
        yield proxy
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def proxied(forward_proxy, monkeypatch) -> Iterator[ForwardProxy]:
    """Every host goes through the proxy: HTTP_PROXY and HTTPS_PROXY name it."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url())
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url())
    fresh_transport()
    yield forward_proxy
    fresh_transport()


@dataclasses.dataclass
class Target:
    """A container on one of the Azurites, and how to authorise requests to it."""

    scheme: str
    url: str
    port: int
    credential: object
    make_credential: tuple[str, ...]
    """What a child process needs to build the same credential: ("key", name, key)
    or ("token",)."""


@pytest.fixture(params=["http", "https"])
def target(request, monkeypatch) -> Iterator[Target]:
    """A fresh container, on the http Azurite (account key) or the https one (token)."""
    name = f"proxy-{uuid.uuid4().hex}"
    if request.param == "http":
        instance = request.getfixturevalue("azurite")
        service = BlobServiceClient.from_connection_string(instance.connection_string)
        credential: object = AzureNamedKeyCredential(instance.account_name, instance.account_key)
        recipe: tuple[str, ...] = ("key", instance.account_name, instance.account_key)
    else:
        instance = request.getfixturevalue("azurite_https")
        # What a corporate image often sets alone.
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        monkeypatch.setenv("SSL_CERT_FILE", str(instance.ca_cert_path))
        credential = StaticTokenCredential(azurite_rig.make_oauth_token())
        service = BlobServiceClient(
            instance.blob_endpoint,
            credential=credential,
            connection_verify=str(instance.ca_cert_path),
        )
        recipe = ("token",)
    client = service.create_container(name)
    try:
        yield Target(
            request.param, f"{instance.blob_endpoint}/{name}", instance.port, credential, recipe
        )
    finally:
        # The SDK's own client (requests) would go through whatever proxy a test
        # left in the environment; clean up directly.
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.upper() in PROXY_VARIABLES}
        try:
            client.delete_container()
        finally:
            os.environ.update(saved)
            service.close()
