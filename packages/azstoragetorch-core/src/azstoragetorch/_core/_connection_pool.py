"""Keep-alive connections to one host, and how TLS and proxies are decided for it.

A pool belongs to one process's transport (see ``_shared_transport``): a forked child
builds its own and never touches its parent's sockets.
"""

from __future__ import annotations

import http.client
import os
import select
import ssl
import threading

from azure.core.exceptions import ServiceRequestError, ServiceRequestTimeoutError

from azstoragetorch._core._response import FastHeadersResponse

__all__ = ["POOL_SIZE", "ConnectionPool", "ca_bundle", "proxy_applies", "tls_context"]

# Enough idle connections per host for the widest parallelism the library uses at
# once (parallel ranged reads and block uploads of a few objects, dataset prefetch),
# so a connection is never opened and dropped per request. More may be open at
# once; the ones beyond this are closed when their response is done.
POOL_SIZE = 32
# Bytes read from a file-like request body per send: http.client's default (8 KiB)
# costs a system call per 8 KiB of a block upload.
SEND_BLOCK = 256 * 1024


class ConnectionPool:
    """Idle keep-alive connections to one ``scheme://host:port``; thread-safe.

    The most recently returned connection is handed out first: it is the one least
    likely to have been closed by the server for idling.
    """

    def __init__(self, host: str, port: int, context: ssl.SSLContext | None) -> None:
        self._host = host
        self._port = port
        self._context = context
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def take(self, connect_timeout: float | None) -> tuple[http.client.HTTPConnection, bool]:
        """A connection, and whether it served requests before (reused) or is new.

        :raises ServiceRequestError: When a new connection cannot be made.
        """
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self.connect(connect_timeout), False
            if _still_open(connection):
                return connection, True
            connection.close()

    def connect(self, connect_timeout: float | None) -> http.client.HTTPConnection:
        """A new connection (TCP, then TLS for https), not yet in the pool.

        :raises ServiceRequestTimeoutError: When connecting takes longer than
            ``connect_timeout`` seconds.
        :raises ServiceRequestError: When the host cannot be reached or its
            certificate is not trusted; the request was not sent, so it can be retried.
        """
        connection: http.client.HTTPConnection
        if self._context is None:
            connection = http.client.HTTPConnection(
                self._host, self._port, timeout=connect_timeout, blocksize=SEND_BLOCK
            )
        else:
            connection = http.client.HTTPSConnection(
                self._host,
                self._port,
                timeout=connect_timeout,
                context=self._context,
                blocksize=SEND_BLOCK,
            )
        connection.response_class = FastHeadersResponse
        try:
            connection.connect()
        except TimeoutError as error:
            connection.close()
            raise ServiceRequestTimeoutError(
                f"Connecting timed out: {error}", error=error
            ) from error
        except OSError as error:  # refused, unreachable, unknown host, TLS failures
            connection.close()
            raise ServiceRequestError(f"Could not connect: {error}", error=error) from error
        return connection

    def give_back(self, connection: http.client.HTTPConnection) -> None:
        """Keep a connection whose last response was fully read, if there is room.

        After :meth:`close` nothing is kept: a request still under way then (a
        dataset's read-ahead, say) closes its connection when it is done, instead of
        leaving it in a pool that nobody will close again.
        """
        with self._lock:
            if not self._closed and len(self._idle) < POOL_SIZE:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close the idle connections, and every connection given back from now on."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _still_open(connection: http.client.HTTPConnection) -> bool:
    # An idle connection has nothing to read unless the server closed it (or broke
    # the protocol); either way it must not carry the next request. poll, unlike
    # select, works for any file descriptor number.
    sock = connection.sock
    if sock is None:
        return False
    if not hasattr(select, "poll"):  # Windows, where select() takes any socket
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return not poller.poll(0)


def ca_bundle() -> str | None:
    """The CA certificates requests would trust: ``REQUESTS_CA_BUNDLE``, then
    ``CURL_CA_BUNDLE``, then certifi's bundle; ``None`` means the system's default.

    requests does not read ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` (it trusts certifi
    unless told otherwise), so neither do we: the same machine trusts the same
    servers as before.
    """
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        return bundle
    try:
        import certifi
    except ImportError:  # requests needs certifi, but nothing here requires requests
        return None
    return str(certifi.where())


def tls_context(bundle: str | None) -> ssl.SSLContext:
    """A verifying TLS context (certificate and host name) trusting ``bundle``."""
    if bundle is None:
        return ssl.create_default_context()
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


def proxy_applies(origin: str) -> bool:
    """Whether the environment sends requests to ``origin`` through a proxy.

    The decision is requests' own (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``
    and ``NO_PROXY``, upper or lower case), so the requests transport that then
    carries them agrees with it. requests reads the proxies from
    ``urllib.request.getproxies()``: when that names none, no proxy applies and
    requests is not imported at all.
    """
    import urllib.request  # once per host; it is slow to import

    if not set(urllib.request.getproxies()) - {"no"}:
        return False
    import requests.utils  # only once per host, and only with a proxy configured

    url = origin + "/"
    return requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url)) is not None
