"""Account-key (SharedKey) request signing as an azure-core pipeline policy.

azure-core has no public policy for storage account keys, so this signs requests
the way the Blob service documents: an HMAC-SHA256, keyed with the account key, over
a canonical form of the request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from email.utils import formatdate

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

__all__ = ["SharedKeyPolicy"]

# The standard headers the service signs, in the order it signs them.
_SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


class SharedKeyPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Signs every request with the account key of an ``AzureNamedKeyCredential``.

    Must run after every policy that sets headers, and inside the retry policy, so
    each attempt carries a fresh date and signature.
    """

    def __init__(self, credential: AzureNamedKeyCredential) -> None:
        self._credential = credential

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        http_request = request.http_request
        http_request.headers["x-ms-date"] = formatdate(usegmt=True)
        account, key = self._credential.named_key
        headers = {name.lower(): value for name, value in http_request.headers.items()}
        if headers.get("content-length") == "0":
            headers["content-length"] = ""
        canonical = "\n".join(
            [
                http_request.method.upper(),
                *(headers.get(name, "") for name in _SIGNED_HEADERS),
                *_canonical_ms_headers(headers),
                _canonical_resource(account, http_request.url),
            ]
        )
        digest = hmac.new(base64.b64decode(key), canonical.encode("utf-8"), hashlib.sha256)
        signature = base64.b64encode(digest.digest()).decode("ascii")
        http_request.headers["Authorization"] = f"SharedKey {account}:{signature}"

    def __repr__(self) -> str:
        return f"SharedKeyPolicy(account={self._credential.named_key.name!r})"


def _canonical_ms_headers(headers: dict[str, str]) -> list[str]:
    return [
        f"{name}:{headers[name].strip()}" for name in sorted(headers) if name.startswith("x-ms-")
    ]


def _canonical_resource(account: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    params: dict[str, list[str]] = {}
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        params.setdefault(name.lower(), []).append(value)
    lines = [f"/{account}{parts.path or '/'}"]
    lines += [f"{name}:{','.join(sorted(params[name]))}" for name in sorted(params)]
    return "\n".join(lines)
