import base64
import hashlib
import hmac

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import HttpRequest

from azstoragetorch._core import _shared_key
from azstoragetorch._core._shared_key import SharedKeyPolicy

KEY = base64.b64encode(b"secret-key-bytes").decode()


def sign(method, url, headers):
    request = HttpRequest(method, url, headers=headers)
    SharedKeyPolicy(AzureNamedKeyCredential("acct", KEY)).on_request(
        PipelineRequest(request, PipelineContext(None))
    )
    return request


def test_signature_covers_the_canonical_request():
    request = sign(
        "PUT",
        "http://127.0.0.1:10000/acct/c/a%20b?comp=block&blockid=QQ%3D%3D",
        {"x-ms-version": "2025-01-05", "Content-Length": "3", "Content-MD5": "md5"},
    )
    date = request.headers["x-ms-date"]
    canonical = "\n".join(
        [
            "PUT",
            "",
            "",
            "3",
            "md5",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            f"x-ms-date:{date}",
            "x-ms-version:2025-01-05",
            "/acct/acct/c/a%20b\nblockid:QQ==\ncomp:block",
        ]
    )
    expected = base64.b64encode(
        hmac.new(b"secret-key-bytes", canonical.encode(), hashlib.sha256).digest()
    ).decode()
    assert request.headers["Authorization"] == f"SharedKey acct:{expected}"


def test_zero_content_length_is_signed_as_empty(monkeypatch):
    # A fixed date makes the two signatures comparable.
    monkeypatch.setattr(_shared_key, "formatdate", lambda usegmt: "Sun, 22 Nov 2026 00:00:00 GMT")
    request = sign("GET", "https://acct.blob.core.windows.net/c/b", {"Content-Length": "0"})
    other = sign("GET", "https://acct.blob.core.windows.net/c/b", {})
    different = sign("GET", "https://acct.blob.core.windows.net/c/b", {"Content-Length": "1"})
    assert request.headers["Authorization"] == other.headers["Authorization"]
    assert request.headers["Authorization"] != different.headers["Authorization"]


def test_repr_does_not_show_the_key():
    assert KEY not in repr(SharedKeyPolicy(AzureNamedKeyCredential("acct", KEY)))
