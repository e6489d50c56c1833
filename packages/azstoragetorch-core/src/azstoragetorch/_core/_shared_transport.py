"""The HTTP transport: one connection pool per process, rebuilt after ``fork``.

Sharing a socket between processes mixes up responses (DataLoader workers are forked
from the process that may already have used the dataset), so every pipeline reaches
the pool through :class:`ProcessLocalTransport`, which looks the pool up by PID at
each request.
"""

from __future__ import annotations

import atexit
from typing import Any

from azure.core.pipeline.transport import HttpRequest, HttpResponse, HttpTransport

from azstoragetorch._core._http_transport import HttpClientTransport
from azstoragetorch._core._process_local import ProcessLocal

__all__ = ["ProcessLocalTransport", "shared_transport"]

_shared: ProcessLocal[HttpClientTransport] = ProcessLocal(HttpClientTransport)


def shared_transport() -> HttpClientTransport:
    """This process's transport, created on first use."""
    return _shared.get()


@atexit.register
def _close_idle_connections() -> None:
    # Closing the sockets ourselves ends the connections cleanly instead of
    # leaving them to the garbage collector during interpreter shutdown.
    transport = _shared.existing()
    if transport is not None:
        transport.close()


class ProcessLocalTransport(HttpTransport[HttpRequest, HttpResponse]):
    """Sends through the calling process's shared transport; never closes it."""

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return shared_transport().send(request, **kwargs)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> ProcessLocalTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass
