"""The http.client transport against Azurite: trust, and which transport pipelines use."""

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import HttpRequest

from azstoragetorch._core import _shared_transport
from azstoragetorch._core._http_transport import HttpClientResponse, HttpClientTransport
from azstoragetorch.io import BlobIO


@pytest.fixture
def no_ca_settings(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_https_trusts_the_ca_bundle_requests_names(azurite_https, no_ca_settings):
    no_ca_settings.setenv("REQUESTS_CA_BUNDLE", str(azurite_https.ca_cert_path))
    with HttpClientTransport() as transport:
        response = transport.send(HttpRequest("GET", f"{azurite_https.blob_endpoint}?comp=list"))
    assert response.status_code in (401, 403)  # an answer: the TLS handshake succeeded


def test_a_refused_certificate_names_the_host_and_the_variable_to_set(
    azurite_https, no_ca_settings
):
    with HttpClientTransport() as transport, pytest.raises(ServiceRequestError) as caught:
        transport.send(HttpRequest("GET", f"{azurite_https.blob_endpoint}?comp=list"))
    message = str(caught.value)
    assert "The TLS certificate of 127.0.0.1 is not trusted" in message
    assert "set SSL_CERT_FILE" in message
    assert "REQUESTS_CA_BUNDLE" in message


@pytest.fixture
def new_process_transport():
    """Trust is decided when a process first contacts a host: start from a new
    shared transport, as a new process would, and leave a new one behind, so that
    later tests do not inherit a host this test contacted untrusted."""

    def renew():
        _shared_transport.shared_transport().close()
        _shared_transport._shared.reset()

    renew()
    yield
    renew()


def test_through_blob_io_the_refusal_reaches_the_user_with_the_hint(
    azurite_https, no_ca_settings, key, new_process_transport
):
    from azstoragetorch.exceptions import BlobServiceError
    from azstoragetorch.options import ClientOptions

    url = f"{azurite_https.blob_endpoint}/container/b"
    fast = ClientOptions(max_retries=0)
    with pytest.raises(BlobServiceError, match="set SSL_CERT_FILE"):
        BlobIO(url, "rb", credential=key, options=fast)


def _outcome(transport, url):
    with transport:
        try:
            transport.send(HttpRequest("GET", url))
        except ServiceRequestError:
            return "refused"
    return "answered"


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_each_ca_variable_alone_makes_the_private_ca_trusted(
    azurite_https, no_ca_settings, variable
):
    no_ca_settings.setenv(variable, str(azurite_https.ca_cert_path))
    url = f"{azurite_https.blob_endpoint}?comp=list"
    assert _outcome(HttpClientTransport(), url) == "answered"


@pytest.mark.parametrize(
    ("winner", "loser"),
    [
        ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
        ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"),
        ("CURL_CA_BUNDLE", "SSL_CERT_FILE"),
    ],
)
def test_the_first_ca_variable_set_wins(azurite_https, no_ca_settings, tmp_path, winner, loser):
    import certifi

    url = f"{azurite_https.blob_endpoint}?comp=list"
    no_ca_settings.setenv(winner, str(azurite_https.ca_cert_path))
    no_ca_settings.setenv(loser, certifi.where())  # a bundle without the emulator's CA
    assert _outcome(HttpClientTransport(), url) == "answered"
    no_ca_settings.setenv(winner, certifi.where())
    no_ca_settings.setenv(loser, str(azurite_https.ca_cert_path))
    assert _outcome(HttpClientTransport(), url) == "refused"


class NotingTransport:
    """Wraps the process's transport and keeps every response it returns."""

    def __init__(self, inner):
        self._inner = inner
        self.responses = []

    def send(self, request, **kwargs):
        response = self._inner.send(request, **kwargs)
        self.responses.append(response)
        return response


def test_pipelines_send_through_the_http_client_transport(upload, key, monkeypatch):
    url = upload("lean.bin", b"payload")
    noting = NotingTransport(_shared_transport.shared_transport())
    monkeypatch.setattr(_shared_transport, "shared_transport", lambda: noting)
    with BlobIO(url, "rb", credential=key) as f:
        assert f.read() == b"payload"
    assert noting.responses
    assert all(isinstance(response, HttpClientResponse) for response in noting.responses)
