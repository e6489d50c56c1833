"""The HTTP transport: one connection pool per process, rebuilt after ``fork``.

Importing it installs a filter that redacts SAS signatures from urllib3's DEBUG
log records (see ``_redact.install_log_redaction``).

Sharing a socket between processes mixes up responses (DataLoader workers are forked
from the process that may already have used the dataset), so every pipeline reaches
the pool through :class:`ProcessLocalTransport`, which looks the pool up by PID at
each request.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import requests
import requests.adapters
from azure.core.pipeline.transport import (
    HttpRequest,
    HttpResponse,
    HttpTransport,
    RequestsTransport,
)

from azstoragetorch._core._process_local import ProcessLocal
from azstoragetorch._core._redact import install_log_redaction

__all__ = ["POOL_SIZE", "ProcessLocalTransport", "shared_transport"]

# Enough connections for the widest parallelism the library uses at once (parallel
# ranged reads and block uploads of a few objects, dataset prefetch) so a connection
# is never opened and dropped per request.
POOL_SIZE = 32
CONNECTION_TIMEOUT = 20
READ_TIMEOUT = 60


class _Session(requests.Session):
    """A session that reads proxy and CA settings from the environment once per host.

    requests re-reads every environment variable on each request to find proxies
    and a CA bundle (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...); for
    small blobs that is a noticeable share of the client's CPU per request. The
    result is kept per scheme and host for the life of the process's pool, so the
    environment is honoured as it is when a host is first contacted.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], Any] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, {}, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def _new_transport() -> RequestsTransport:
    session = _Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(
        session=session,
        session_owner=False,
        connection_timeout=CONNECTION_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )


_shared: ProcessLocal[RequestsTransport] = ProcessLocal(_new_transport)

# urllib3 logs request lines, SAS included, at DEBUG. Every request of the library
# goes through this module, so redaction is in place before the first one; it stays
# for the process's life because records of our requests come from whichever thread
# sends them, and a filter added and removed around each request would race with
# the other threads' requests.
install_log_redaction()


def shared_transport() -> RequestsTransport:
    """This process's transport, created on first use."""
    return _shared.get()


class ProcessLocalTransport(HttpTransport):  # type: ignore[type-arg]
    """Sends through the calling process's shared transport; never closes it."""

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return shared_transport().send(request, **kwargs)  # type: ignore[no-any-return]

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> ProcessLocalTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass
