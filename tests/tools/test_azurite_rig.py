"""Pins the behaviour of the Azurite test rig: tools/azurite.py and tests/_azurite_plugin.py."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import azurite as rig
import pytest
from _azurite_credentials import StaticTokenCredential
from _azurite_plugin import AzuriteContainer
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient

pytestmark = pytest.mark.azurite


def _oauth_client(instance: rig.AzuriteInstance, token: str) -> BlobServiceClient:
    return BlobServiceClient(
        instance.blob_endpoint,
        credential=StaticTokenCredential(token),
        connection_verify=str(instance.ca_cert_path),
    )


# ----------------------------------------------------------------------- lifecycle


def test_stop_ends_the_process_and_removes_the_folder() -> None:
    instance = rig.start()
    assert rig.is_running(instance.pid)
    assert instance.location.is_dir()

    instance.stop()

    assert not rig.is_running(instance.pid)
    assert not instance.location.exists()
    instance.stop()  # a second stop is harmless


def test_http_instance_describes_how_to_reach_it(azurite: rig.AzuriteInstance) -> None:
    assert azurite.scheme == "http"
    assert azurite.blob_endpoint == f"http://127.0.0.1:{azurite.port}/devstoreaccount1"
    assert azurite.account_name == "devstoreaccount1"
    assert azurite.account_key == rig.ACCOUNT_KEY
    assert f"BlobEndpoint={azurite.blob_endpoint};" in azurite.connection_string
    assert azurite.ca_cert_path is None


def test_oauth_without_https_is_refused() -> None:
    with pytest.raises(ValueError, match="HTTPS"):
        rig.start(https=False, oauth=True)


def test_a_startup_timeout_reports_the_log_and_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(prefix: str) -> str:
        made.append(Path(real_mkdtemp(prefix=prefix)))
        return str(made[-1])

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    with pytest.raises(rig.AzuriteError, match="did not answer"):
        rig.start(ready_timeout=0.01)
    assert made
    assert not made[0].exists()


@pytest.mark.slow
def test_a_taken_port_is_retried_on_another(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        real_free_port = rig._free_port
        monkeypatch.setattr(rig, "_free_port", lambda: next(ports, None) or real_free_port())

        with rig.start() as instance:
            assert instance.port != taken
            assert rig._answers_as_azurite(instance.port, None)


def test_install_is_a_no_op_when_the_pinned_version_is_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rig.install()

    def must_not_run(install_dir: Path) -> None:
        raise AssertionError("npm ci ran although Azurite was installed")

    monkeypatch.setattr(rig, "_npm_ci", must_not_run)
    entry_point = rig.install()
    assert entry_point.exists()
    assert rig.installed_version() == rig.pinned_version() == "3.37.0"


def test_cli_starts_and_stops_a_detached_azurite() -> None:
    script = str(Path(rig.__file__))
    started = subprocess.run(
        [sys.executable, script, "start"], capture_output=True, text=True, check=True
    )
    info = json.loads(started.stdout)
    try:
        assert info["blob_endpoint"] == f"http://127.0.0.1:{info['port']}/devstoreaccount1"
        assert rig._answers_as_azurite(info["port"], None)
    finally:
        subprocess.run([sys.executable, script, "stop", "--pid", str(info["pid"])], check=True)
    assert not rig.is_running(info["pid"])
    assert not Path(info["location"]).exists()


# ----------------------------------------------------------------------- data


@pytest.mark.azurite_only  # checks the Azurite rig itself
def test_shared_key_round_trip_over_http(container: AzuriteContainer) -> None:
    assert container.url.startswith("http://127.0.0.1:")
    assert container.url.endswith(f"/devstoreaccount1/{container.name}")
    payload = os.urandom(300_000)

    container.client.upload_blob("dir/blob.bin", payload)

    assert container.client.download_blob("dir/blob.bin").readall() == payload
    assert [b.name for b in container.client.list_blobs()] == ["dir/blob.bin"]


def test_blob_data_is_written_to_disk_under_location(
    azurite: rig.AzuriteInstance, container: AzuriteContainer
) -> None:
    marker = f"persisted-{uuid.uuid4()}".encode()

    container.client.upload_blob("marker", marker)

    files = [p for p in azurite.location.rglob("*") if p.is_file()]
    assert any(marker in p.read_bytes() for p in files), "blob bytes not found on disk"


# ----------------------------------------------------------------------- https + oauth


def test_https_oauth_accepts_the_minted_token(azurite_https: rig.AzuriteInstance) -> None:
    assert azurite_https.scheme == "https"
    assert azurite_https.ca_cert_path is not None
    assert azurite_https.ca_cert_path.is_file()
    credential = StaticTokenCredential(rig.make_oauth_token())
    with BlobServiceClient(
        azurite_https.blob_endpoint,
        credential=credential,
        connection_verify=str(azurite_https.ca_cert_path),
    ) as service:
        container = service.create_container(f"oauth-{uuid.uuid4().hex}")
        container.upload_blob("hello.txt", b"hello over oauth")
        assert container.download_blob("hello.txt").readall() == b"hello over oauth"
        container.delete_container()
    assert credential.calls > 0


def test_signature_is_not_checked(azurite_https: rig.AzuriteInstance) -> None:
    forged = rig.make_oauth_token() + "bm90LWEtcmVhbC1zaWduYXR1cmU"
    with _oauth_client(azurite_https, forged) as service:
        assert list(service.list_containers()) is not None


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        pytest.param(rig.make_oauth_token(expires_in=-60), "expired", id="expired"),
        pytest.param(
            rig.make_oauth_token(audience="https://example.com"), "audience", id="wrong-audience"
        ),
        pytest.param(
            rig.make_oauth_token(issuer="https://login.microsoftonline.com/t/v2.0"),
            "issuer",
            id="wrong-issuer",
        ),
    ],
)
def test_https_oauth_rejects_a_bad_token(
    azurite_https: rig.AzuriteInstance, token: str, detail: str
) -> None:
    with _oauth_client(azurite_https, token) as service, pytest.raises(HttpResponseError) as err:
        service.create_container(f"rejected-{uuid.uuid4().hex}")
    assert err.value.status_code == 403
    assert "ErrorCode:AuthenticationFailed" in str(err.value)
    assert detail in str(err.value)


def test_shared_key_still_works_on_the_oauth_instance(azurite_https: rig.AzuriteInstance) -> None:
    with BlobServiceClient.from_connection_string(
        azurite_https.connection_string, connection_verify=str(azurite_https.ca_cert_path)
    ) as service:
        assert list(service.list_containers()) is not None


# ----------------------------------------------------------------------- tokens, certificates


def test_minted_token_is_an_unsigned_jwt_with_the_claims_azurite_checks() -> None:
    token = rig.make_oauth_token(expires_in=120)
    header, payload, signature = token.split(".")
    claims = json.loads(_b64decode(payload))

    assert json.loads(_b64decode(header))["alg"] == "none"
    assert signature == ""
    assert claims["aud"] == "https://storage.azure.com"
    assert claims["iss"].startswith("https://sts.windows.net/")
    assert claims["iat"] == claims["nbf"] < claims["exp"]
    assert StaticTokenCredential(token).get_token("scope").expires_on == claims["exp"]


def _b64decode(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_certificate_passes_strict_verification(tmp_path: Path, hostname: str) -> None:
    cert, key = rig.make_certificate(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    client_context.verify_flags |= ssl.VERIFY_X509_STRICT

    _handshake(server_context, client_context, hostname)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> None:
    # In-memory TLS: no sockets or threads, and verification errors surface here.
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_end = client.wrap_bio(to_client, to_server, server_hostname=hostname)
    server_end = server.wrap_bio(to_server, to_client, server_side=True)
    pending = [client_end, server_end]
    for _ in range(10):
        for end in list(pending):
            try:
                end.do_handshake()
                pending.remove(end)
            except ssl.SSLWantReadError:
                pass
        if not pending:
            return
    raise AssertionError("TLS handshake did not finish")


def test_http_probe_tells_azurite_from_other_servers(azurite: rig.AzuriteInstance) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", azurite.port, timeout=5)
    connection.request("GET", "/devstoreaccount1?comp=list")
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.getheader("Server") == "Azurite-Blob/3.37.0"
