"""A managed-identity token endpoint on 127.0.0.1, so DefaultAzureCredential works offline.

App Service exposes managed identity through two environment variables:
``IDENTITY_ENDPOINT`` (a local URL) and ``IDENTITY_HEADER`` (a secret the client
echoes in ``X-IDENTITY-HEADER``). azure-identity's ``DefaultAzureCredential`` finds
them and asks that URL for a token with ``GET ?api-version=2019-08-01&resource=...``.
This endpoint answers with a token Azurite (``--oauth basic``) accepts, so code that
uses the default credential, as users' code does, runs unchanged against Azurite
over https.
"""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import azurite


@dataclass
class IdentityEndpoint:
    """A running endpoint: its URL, the header secret, and the requests it answered."""

    url: str
    header: str
    resources: list[str] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        """The variables under which azure-identity uses this endpoint."""
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": self.header}


@contextmanager
def serve() -> Iterator[IdentityEndpoint]:
    """Run an endpoint in a background thread until the ``with`` block ends."""
    endpoint = IdentityEndpoint(url="", header=secrets.token_hex(16))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            if self.headers.get("X-IDENTITY-HEADER") != endpoint.header:
                self._reply(401, {"error": "wrong or missing X-IDENTITY-HEADER"})
                return
            resource = query.get("resource", [""])[0]
            endpoint.resources.append(resource)
            expires_on = int(time.time()) + 3600
            self._reply(
                200,
                {
                    "access_token": azurite.make_oauth_token(3600),
                    "expires_on": str(expires_on),
                    "resource": resource,
                    "token_type": "Bearer",
                },
            )

        def _reply(self, status: int, body: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/msi/token"
    thread = threading.Thread(target=server.serve_forever, name="identity-endpoint", daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
