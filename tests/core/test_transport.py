"""The http.client transport against Azurite: trust, and which transport pipelines use."""

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import HttpRequest

from azstoragetorch._core import _shared_transport
from azstoragetorch._core._http_transport import (
    HttpClientResponse,
    HttpClientTransport,
    _new_requests_transport,
)
from azstoragetorch.io import BlobIO


@pytest.fixture
def no_ca_settings(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_https_trusts_the_ca_bundle_requests_would(azurite_https, no_ca_settings):
    no_ca_settings.setenv("REQUESTS_CA_BUNDLE", str(azurite_https.ca_cert_path))
    with HttpClientTransport() as transport:
        response = transport.send(HttpRequest("GET", f"{azurite_https.blob_endpoint}?comp=list"))
    assert response.status_code in (401, 403)  # an answer: the TLS handshake succeeded


def test_https_refuses_a_certificate_outside_the_trusted_bundle(azurite_https, no_ca_settings):
    with HttpClientTransport() as transport, pytest.raises(ServiceRequestError) as caught:
        transport.send(HttpRequest("GET", f"{azurite_https.blob_endpoint}?comp=list"))
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def _outcome(transport, url):
    with transport:
        try:
            transport.send(HttpRequest("GET", url))
        except ServiceRequestError:
            return "refused"
    return "answered"


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("REQUESTS_CA_BUNDLE", "answered"),
        ("CURL_CA_BUNDLE", "answered"),
        # requests trusts certifi's bundle unless told otherwise; OpenSSL's variable
        # is not read by either transport, so one machine trusts the same servers.
        ("SSL_CERT_FILE", "refused"),
    ],
)
def test_https_trusts_exactly_what_the_requests_transport_trusts(
    azurite_https, no_ca_settings, variable, expected
):
    no_ca_settings.setenv(variable, str(azurite_https.ca_cert_path))
    url = f"{azurite_https.blob_endpoint}?comp=list"
    ours = _outcome(HttpClientTransport(), url)
    theirs = _outcome(_new_requests_transport(), url)
    assert (ours, theirs) == (expected, expected)


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
