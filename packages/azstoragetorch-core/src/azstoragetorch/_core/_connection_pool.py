"""Keep-alive connections to one host, and how TLS and proxies are decided for it.

A pool belongs to one process's transport (see ``_shared_transport``): a forked child
builds its own and never touches its parent's sockets.
"""

from __future__ import annotations

import base64
import http.client
import os
import select
import ssl
import threading
import urllib.parse
import urllib.request
from typing import NamedTuple

from azure.core.exceptions import ServiceRequestError, ServiceRequestTimeoutError

from azstoragetorch._core._response import FastHeadersResponse

__all__ = [
    "CA_VARIABLES",
    "POOL_SIZE",
    "ConnectionPool",
    "Proxy",
    "Trust",
    "ca_bundle",
    "proxy_for",
    "tls_context",
]

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

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext | None,
        proxy: Proxy | None = None,
        trust: Trust | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._context = context
        self._proxy = proxy
        self._trust = trust or Trust(None, None)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        # Plain HTTP through a proxy: requests name the whole URL (absolute form) and
        # carry the proxy's credentials. HTTPS goes through a CONNECT tunnel instead.
        self.absolute = proxy is not None and context is None
        self.prefix = f"http://{host}:{port}" if self.absolute else ""
        self.proxy_headers = proxy.headers() if self.absolute and proxy else {}
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
        """A new connection (TCP, a CONNECT tunnel through a proxy, then TLS for
        https), not yet in the pool.

        :raises ServiceRequestTimeoutError: When connecting takes longer than
            ``connect_timeout`` seconds.
        :raises ServiceRequestError: When the host (or the proxy) cannot be reached,
            the proxy refuses the tunnel, or the certificate is not trusted; the
            request was not sent, so it can be retried.
        """
        host, port = (
            (self._proxy.host, self._proxy.port) if self._proxy else (self._host, self._port)
        )
        connection: http.client.HTTPConnection
        if self._context is None:
            connection = http.client.HTTPConnection(
                host, port, timeout=connect_timeout, blocksize=SEND_BLOCK
            )
        else:
            connection = http.client.HTTPSConnection(
                host, port, timeout=connect_timeout, context=self._context, blocksize=SEND_BLOCK
            )
            if self._proxy is not None:
                connection.set_tunnel(self._host, self._port, headers=self._proxy.headers())
        connection.response_class = FastHeadersResponse
        via = f" through the proxy {self._proxy.host}:{self._proxy.port}" if self._proxy else ""
        try:
            connection.connect()
        except TimeoutError as error:
            connection.close()
            raise ServiceRequestTimeoutError(
                f"Connecting to {self._host}:{self._port}{via} timed out: {error}", error=error
            ) from error
        except ssl.SSLCertVerificationError as error:
            connection.close()
            raise ServiceRequestError(self._untrusted(error), error=error) from error
        except OSError as error:  # refused, unreachable, unknown host, tunnel refused
            connection.close()
            raise ServiceRequestError(
                f"Could not connect to {self._host}:{self._port}{via}: {error}", error=error
            ) from error
        return connection

    def _untrusted(self, error: ssl.SSLCertVerificationError) -> str:
        trusted = self._trust.path or "the system's certificate store"
        source = f"named by {self._trust.variable}" if self._trust.variable else "the default"
        return (
            f"The TLS certificate of {self._host} is not trusted ({error.verify_message}); "
            f"trusted now: {trusted} ({source}). If {self._host} uses a private CA (a "
            "corporate proxy or an emulator), set SSL_CERT_FILE, or REQUESTS_CA_BUNDLE which "
            "takes precedence, to a PEM file holding its CA certificate."
        )

    def give_back(self, connection: http.client.HTTPConnection, keep: int = POOL_SIZE) -> None:
        """Keep a connection whose last response was fully read, if fewer than
        ``keep`` are idle.

        After :meth:`close` nothing is kept: a request still under way then (a
        dataset's read-ahead, say) closes its connection when it is done, instead of
        leaving it in a pool that nobody will close again.
        """
        with self._lock:
            if not self._closed and len(self._idle) < keep:
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


# The variables that name the CA certificates to trust, first set wins. requests
# reads the first two, curl the second, OpenSSL (and so Python's ssl) the third;
# a corporate image often sets only SSL_CERT_FILE.
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


class Trust(NamedTuple):
    """The CA certificates to trust: a file or directory, and where that came from.

    ``path`` ``None`` means the system's default store; ``variable`` is the
    environment variable that named ``path``, or ``None`` for certifi's bundle or
    the system's store.
    """

    path: str | None
    variable: str | None


def ca_bundle() -> Trust:
    """The CA certificates to trust: ``REQUESTS_CA_BUNDLE``, then ``CURL_CA_BUNDLE``,
    then ``SSL_CERT_FILE`` (the first set wins), else certifi's bundle, else the
    system's store."""
    for variable in CA_VARIABLES:
        path = os.environ.get(variable)
        if path:
            return Trust(path, variable)
    try:
        import certifi
    except ImportError:
        return Trust(None, None)
    return Trust(str(certifi.where()), None)


def tls_context(bundle: str | None) -> ssl.SSLContext:
    """A verifying TLS context (certificate and host name) trusting ``bundle``."""
    if bundle is None:
        return ssl.create_default_context()
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


class Proxy:
    """A forward proxy: where it listens and the ``Proxy-Authorization`` to send.

    Its ``repr`` and every message name only the host and port: the credentials of
    a proxy URL (``http://user:password@proxy:3128``) never leave this object.
    """

    def __init__(self, host: str, port: int, authorization: str | None) -> None:
        self.host = host
        self.port = port
        self._authorization = authorization

    def headers(self) -> dict[str, str]:
        """Headers for the proxy itself: on CONNECT, or on a plain-HTTP request."""
        if self._authorization is None:
            return {}
        return {"Proxy-Authorization": self._authorization}

    def __repr__(self) -> str:
        return f"Proxy({self.host}:{self.port})"


def proxy_for(origin: str) -> Proxy | None:
    """The proxy the environment names for ``origin`` (``scheme://host:port``), if any.

    ``HTTPS_PROXY`` for https, ``HTTP_PROXY`` for http, else ``ALL_PROXY``; none for a
    host that ``NO_PROXY`` matches. Lower-case names win over upper-case ones, as in
    ``urllib``, curl and requests.

    :raises ValueError: for a proxy URL that is not ``http://`` (TLS to the proxy
        itself is not supported); the message shows no credentials.
    """
    proxies = urllib.request.getproxies_environment()
    if not set(proxies) - {"no"}:
        return None
    parts = urllib.parse.urlsplit(origin)
    # Public in urllib.request, though typeshed does not list it.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if bypass(parts.netloc, proxies):
        return None
    url = proxies.get(parts.scheme) or proxies.get("all")
    if not url:
        return None
    if "://" not in url:
        url = "http://" + url
    proxy = urllib.parse.urlsplit(url)
    where = f"{proxy.hostname}:{proxy.port}" if proxy.port else str(proxy.hostname)
    if proxy.scheme != "http" or not proxy.hostname:
        raise ValueError(
            f"Unsupported proxy {proxy.scheme}://{where} for {origin}: only http:// proxies "
            "are supported (https traffic is still encrypted end to end through them)."
        )
    authorization = None
    if proxy.username is not None:
        user = urllib.parse.unquote(proxy.username)
        password = urllib.parse.unquote(proxy.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        authorization = f"Basic {token}"
    return Proxy(proxy.hostname, proxy.port or 80, authorization)
