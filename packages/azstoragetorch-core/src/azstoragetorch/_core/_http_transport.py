"""An azure-core transport on the standard library's ``http.client``.

For small blobs the client's CPU per request bounds throughput. requests and
urllib3 spend most of it on work this library never needs per request: merging
session settings, reading proxy and CA variables from the environment, parsing
the URL again, copying header dicts. This transport sends the pipeline's request
as it is over a pooled keep-alive connection and hands the body's
``http.client.HTTPResponse`` to the caller, which reads it straight into its own
buffers.

It is the only transport: every host, proxied or not, goes through it.

- Proxies: when the environment routes a host through a proxy (``HTTPS_PROXY``,
  ``HTTP_PROXY``, ``ALL_PROXY``, minus ``NO_PROXY``), https requests go through a
  ``CONNECT`` tunnel (``HTTPSConnection.set_tunnel``) and plain http requests are
  sent to the proxy in absolute form. The proxy's credentials travel only in the
  ``Proxy-Authorization`` header, which no log, message or repr shows. Decided once
  per host, when it is first contacted.
- Trust: ``REQUESTS_CA_BUNDLE``, then ``CURL_CA_BUNDLE``, then ``SSL_CERT_FILE``,
  else certifi's bundle; read once per host.
- No ``Accept-Encoding`` is sent, so bodies are never compressed.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import ssl
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any, cast

from azure.core.exceptions import (
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpRequest, HttpResponse, HttpTransport
from azure.core.utils import CaseInsensitiveDict

from azstoragetorch._core._connection_pool import (
    POOL_SIZE,
    ConnectionPool,
    ca_bundle,
    proxy_for,
    tls_context,
)
from azstoragetorch._core._response import FastHeadersResponse

__all__ = ["CONNECTION_TIMEOUT", "READ_TIMEOUT", "HttpClientResponse", "HttpClientTransport"]

CONNECTION_TIMEOUT = 20.0
READ_TIMEOUT = 60.0

# Sending the same request twice does no harm for these; a stale connection is
# retried only for them.
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_BODY_METHODS = frozenset({"PUT", "POST", "PATCH"})
# What sending on, or awaiting a response from, a connection the server has
# already closed raises (http.client.RemoteDisconnected is a ConnectionResetError);
# over TLS the closed connection can also surface as an unexpected end of stream.
_CLOSED_BY_SERVER = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)
# Small bodies are joined to the headers for one send; larger ones are sent from
# the caller's buffer, never copied.
_JOIN_LIMIT = 64 * 1024


class HttpClientTransport(HttpTransport[HttpRequest, HttpResponse]):
    """Sends requests over pooled ``http.client`` connections, one pool per host.

    Thread-safe. Not fork-safe by itself: use one per process (``_shared_transport`` does).
    Accepts the ``stream``, ``connection_timeout`` and ``read_timeout`` options of
    azure-core transports, and ``max_connections_per_host``; any other option
    (``proxies``, ``connection_verify``...) or multipart ``files`` is refused with
    ``TypeError``: the environment configures proxies and trust.
    """

    def __init__(self) -> None:
        self._pools: dict[str, ConnectionPool] = {}
        self._contexts: dict[str | None, Any] = {}
        self._lock = threading.Lock()

    def send(
        self,
        request: HttpRequest,
        *,
        stream: bool = False,
        connection_timeout: float | None = CONNECTION_TIMEOUT,
        read_timeout: float | None = READ_TIMEOUT,
        max_connections_per_host: int = POOL_SIZE,
        **kwargs: Any,
    ) -> HttpResponse:
        """Send ``request``; with ``stream=False`` the body is read before this returns.

        :raises ServiceRequestError: The request could not be sent (no connection).
        :raises ServiceResponseError: The connection broke before the response was
            complete; ``ServiceResponseTimeoutError`` if the server was silent for
            ``read_timeout`` seconds.
        """
        if kwargs or request.files:
            unsupported = sorted(kwargs) + (["files"] if request.files else [])
            raise TypeError(f"The azstoragetorch transport does not support {unsupported}")
        origin, target = _split(request.url)
        pool = self._pools.get(origin) or self._pool_for(origin)
        target = pool.prefix + target
        body = _Body(request.data)
        connection, reused = pool.take(connection_timeout)
        while True:
            try:
                raw = _exchange(connection, request, target, body, read_timeout, pool.proxy_headers)
                break
            except BaseException as error:
                connection.close()
                stale = reused and isinstance(error, _CLOSED_BY_SERVER)
                if stale and request.method in _IDEMPOTENT and body.rewind():
                    # The server closed this idle connection as the request went out;
                    # it got no request to act on, so one more try on a new connection
                    # is safe (and the only one: a new connection is not stale).
                    connection, reused = pool.connect(connection_timeout), False
                    continue
                if isinstance(error, (OSError, http.client.HTTPException)):
                    raise _response_error(error) from error
                raise
        response = HttpClientResponse(request, raw, connection, pool, max_connections_per_host)
        # An error's body is short, and whoever gets the response may drop it unread
        # (RetryPolicy does, before it retries a 503): read it now, so the connection
        # goes back to the pool instead of waiting for the garbage collector.
        short_error = raw.status >= 400 and raw.length is not None and raw.length <= _JOIN_LIMIT
        if not stream or short_error:
            try:
                response.body()
            except (OSError, http.client.HTTPException) as error:
                response.close()
                raise _response_error(error) from error
        return response

    def _pool_for(self, origin: str) -> ConnectionPool:
        with self._lock:
            pool = self._pools.get(origin)
            if pool is None:
                pool = self._new_pool(origin)
                self._pools[origin] = pool
            return pool

    def _new_pool(self, origin: str) -> ConnectionPool:
        parts = urllib.parse.urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Cannot send a request to {origin!r}: not an http(s) URL")
        proxy = proxy_for(origin)
        context = None
        trust = ca_bundle()
        if parts.scheme == "https":
            context = self._contexts.get(trust.path)
            if context is None:
                context = self._contexts[trust.path] = tls_context(trust.path)
        default_port = 443 if parts.scheme == "https" else 80
        return ConnectionPool(parts.hostname, parts.port or default_port, context, proxy, trust)

    def open(self) -> None:
        pass

    def close(self) -> None:
        """Close every idle connection; responses still being read keep theirs."""
        with self._lock:
            pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()

    def __enter__(self) -> HttpClientTransport:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


class HttpClientResponse(HttpResponse):
    """A response read through ``http.client``.

    ``internal_response`` is the ``http.client.HTTPResponse``; its ``readinto``
    fills a caller's buffer without a copy. Once the body has been read to its end,
    :meth:`release` gives the connection back to its pool; :meth:`close` drops it.
    """

    def __init__(
        self,
        request: HttpRequest,
        internal_response: FastHeadersResponse,
        connection: http.client.HTTPConnection,
        pool: ConnectionPool,
        keep: int = POOL_SIZE,
    ) -> None:
        super().__init__(request, internal_response)
        self.internal_response: FastHeadersResponse = internal_response
        self.status_code = internal_response.status
        self.reason = internal_response.reason
        # The pool's connections read headers into this mapping (see ``_response``).
        self.headers = cast(CaseInsensitiveDict, internal_response.headers)
        self.content_type = self.headers.get("Content-Type")
        self._connection: http.client.HTTPConnection | None = connection
        self._pool = pool
        self._keep = keep
        self._content: bytes | None = None

    def body(self) -> bytes:
        """The whole body; reading it gives the connection back to the pool."""
        if self._content is None:
            self._content = self.internal_response.read()
            self.release()
        return self._content

    def release(self) -> None:
        """Give the connection back if the body was read to its end, else close it."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        raw = self.internal_response
        if not raw.isclosed() and raw.length == 0 and not raw.chunked:
            raw.read()  # an empty body (or HEAD): marks the response complete
        if raw.isclosed() and connection.sock is not None:
            self._pool.give_back(connection, self._keep)
        else:
            raw.close()
            connection.close()

    def close(self) -> None:
        """Drop the connection, whatever is left of the body unread."""
        connection, self._connection = self._connection, None
        self.internal_response.close()
        if connection is not None:
            connection.close()

    def __del__(self) -> None:
        # A response dropped with its body unread holds a connection no one can reuse;
        # close its socket now rather than leave it open until the socket is collected.
        if getattr(self, "_connection", None) is not None:
            with contextlib.suppress(Exception):
                self.close()


def _split(url: str) -> tuple[str, str]:
    """``scheme://host:port`` and the request target (path and query) of ``url``."""
    start = url.find("://") + 3
    ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
    if not ends:
        return url, "/"
    split = min(ends)
    target = url[split:].partition("#")[0]
    return url[:split], target if target.startswith("/") else "/" + target


class _Body:
    """A request body as ``http.client`` sends it, with its length when known.

    Bytes-like bodies are sent from the caller's memory (small ones are joined to
    the headers for one send); ``str`` is ISO-8859-1, as requests sends it (and as
    ``HttpRequest.set_text_body`` counts its length); a file-like object is read from
    its current position to its end; any other iterable of bytes is sent chunked.
    """

    def __init__(self, data: Any) -> None:
        self.length: int | None = 0
        self.payload: Any = None
        self._start: int | None = None
        if data is None:
            return
        if isinstance(data, str):
            data = data.encode("iso-8859-1")
        if isinstance(data, (bytes, bytearray, memoryview)):
            view = memoryview(data)
            self.length = view.nbytes
            # http.client copies only bytes, to join them with the headers.
            self.payload = bytes(view) if self.length <= _JOIN_LIMIT else view.cast("B")
        elif hasattr(data, "read"):
            self.payload = data
            self._start = _position(data)
            self.length = _remaining(data, self._start)
        elif isinstance(data, Iterable):
            self.payload = data
            self.length = None
        else:
            raise TypeError(f"Cannot send a body of type {type(data).__name__}")

    def rewind(self) -> bool:
        """Make the body sendable again; False when it cannot be (a stream, an iterator)."""
        if self.payload is None or isinstance(self.payload, (bytes, memoryview)):
            return True
        if self._start is None:
            return False
        try:
            self.payload.seek(self._start)
        except (OSError, ValueError):
            return False
        return True


def _position(stream: Any) -> int | None:
    try:
        return int(stream.tell())
    except (AttributeError, OSError, ValueError):
        return None


def _remaining(stream: Any, start: int | None) -> int | None:
    """Bytes from ``start`` to the end of a file-like object, None if it cannot say."""
    if start is None:
        return None
    try:
        return max(os.fstat(stream.fileno()).st_size - start, 0)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    try:
        end = int(stream.seek(0, io.SEEK_END))
        stream.seek(start)
    except (AttributeError, OSError, ValueError):
        return None
    return max(end - start, 0)


def _exchange(
    connection: http.client.HTTPConnection,
    request: HttpRequest,
    target: str,
    body: _Body,
    read_timeout: float | None,
    proxy_headers: dict[str, str],
) -> FastHeadersResponse:
    """Send ``request`` on ``connection`` and read the response's status and headers."""
    method = request.method
    headers = request.headers
    # Connections come from the pool connected, so the socket is there.
    assert connection.sock is not None
    connection.sock.settimeout(read_timeout)
    connection.putrequest(method, target, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    # Added here, after every pipeline policy (the logging one included) has run.
    for name, value in proxy_headers.items():
        connection.putheader(name, value)
    chunked = body.length is None
    if chunked:
        if "Transfer-Encoding" not in headers:
            connection.putheader("Transfer-Encoding", "chunked")
    elif "Content-Length" not in headers and (body.payload is not None or method in _BODY_METHODS):
        connection.putheader("Content-Length", str(body.length))
    connection.endheaders(body.payload, encode_chunked=chunked)
    response = connection.getresponse()
    assert isinstance(response, FastHeadersResponse)  # the pool's connections make these
    return response


def _response_error(error: BaseException) -> ServiceResponseError:
    # The request may have reached the server, so only idempotent methods are
    # retried by azure-core's RetryPolicy, exactly as with RequestsTransport.
    if isinstance(error, TimeoutError):
        return ServiceResponseTimeoutError(f"The response timed out: {error}", error=error)
    message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return ServiceResponseError(f"The connection broke: {message}", error=error)
