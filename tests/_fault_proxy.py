"""A fault-injecting HTTP proxy for tests, in front of the real Azurite.

The proxy listens on 127.0.0.1 and forwards every request to Azurite unchanged,
unless a fault matches it. Clients reach it by putting the proxy's ``host:port`` in
an Azurite URL (``http://127.0.0.1:<proxy port>/<account>/<container>/<blob>``);
SharedKey and SAS signatures do not cover the host, so they stay valid.

A fault pairs a request pattern with an action::

    proxy.inject(Respond(503, retry_after="1"), method="GET", ranged=True, nth=1)
    proxy.inject(Truncate(after=1000), path="model.pt", nth=(1, 2))
    proxy.inject(Reset(), query="comp=block")          # every Put Block, for good

Patterns: ``method``, ``path`` (a substring of the percent-decoded path, so a blob
name), ``query`` (a substring of the raw query, e.g. ``comp=block``), ``ranged``
(whether the request asks for a byte range) and ``nth`` (which of the matching
requests, counted from 1, the fault hits; ``None`` hits all of them). The first
fault whose pattern matches a request decides what happens to it.

Actions: :class:`Respond` (an error status without reaching Azurite),
:class:`Reset` (a TCP reset instead of a response), :class:`LoseResponse` (the request
reaches Azurite, its response is replaced by a reset), :class:`ResetMidBody` (a reset
after part of Azurite's response body), :class:`Truncate` (a clean close after part
of the body, keeping the full ``Content-Length``), :class:`Stall` (silence, before
the response or inside its body, then a close) and :class:`Before` (run a callback,
such as another writer overwriting the blob, then forward).

One thread accepts connections and one thread serves each; :meth:`FaultProxy.close`
ends them all and fails if any is still running, so the proxy itself cannot hide a
leaked thread or socket from the tests that use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import socket
import struct
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import BinaryIO

__all__ = [
    "Before",
    "FaultProxy",
    "LoseResponse",
    "Reset",
    "ResetMidBody",
    "Respond",
    "Rule",
    "Seen",
    "Stall",
    "Truncate",
]

# Headers that describe one hop, not the message: never forwarded as they are.
_HOP_BY_HOP = frozenset(
    ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"]
)
_ERROR_CODES = {
    429: "ServerBusy",
    500: "InternalError",
    502: "BadGateway",
    503: "ServerBusy",
    504: "OperationTimedOut",
}
_JOIN_TIMEOUT_S = 10.0


# -- actions ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Respond:
    """Answer with ``status`` (and ``Retry-After`` if given) without asking Azurite."""

    status: int
    retry_after: str | None = None


@dataclasses.dataclass(frozen=True)
class Reset:
    """Read the request, then reset the connection: no response at all."""


@dataclasses.dataclass(frozen=True)
class LoseResponse:
    """Forward the request (it takes effect), then reset instead of answering."""


@dataclasses.dataclass(frozen=True)
class ResetMidBody:
    """Forward, send the headers and ``after`` bytes of the body, then reset."""

    after: int


@dataclasses.dataclass(frozen=True)
class Truncate:
    """Forward, send the headers (full Content-Length) and ``after`` bytes, then close."""

    after: int


@dataclasses.dataclass(frozen=True)
class Stall:
    """Say nothing for ``seconds``, then close the connection.

    With ``after=None`` the silence comes before any response; otherwise the
    request is forwarded and the silence follows ``after`` bytes of the body.
    """

    seconds: float
    after: int | None = None


@dataclasses.dataclass(frozen=True)
class Before:
    """Run ``callback`` (on the proxy's thread), then forward the request normally."""

    callback: Callable[[], object]


Action = Respond | Reset | LoseResponse | ResetMidBody | Truncate | Stall | Before


# -- patterns -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Seen:
    """One request that reached the proxy, and the fault that hit it (if any)."""

    method: str
    path: str
    query: str
    byte_range: str | None
    fault: str | None


@dataclasses.dataclass
class Rule:
    """A request pattern and its action; ``fired`` counts the requests it hit."""

    action: Action
    method: str | None = None
    path: str | None = None
    query: str | None = None
    ranged: bool | None = None
    nth: frozenset[int] | None = None
    matched: int = 0
    fired: int = 0

    def applies(self, method: str, path: str, query: str, byte_range: str | None) -> bool:
        """Whether this rule takes the request (counting it if the pattern matches)."""
        if self.method is not None and method != self.method:
            return False
        if self.path is not None and self.path not in path:
            return False
        if self.query is not None and self.query not in query:
            return False
        if self.ranged is not None and (byte_range is not None) != self.ranged:
            return False
        self.matched += 1
        if self.nth is not None and self.matched not in self.nth:
            return False
        self.fired += 1
        return True


# -- the proxy ----------------------------------------------------------------------


class FaultProxy:
    """Forwards HTTP/1.1 to ``upstream_port`` on 127.0.0.1, injecting faults by rule."""

    def __init__(
        self, upstream_port: int, upstream_host: str = "127.0.0.1", *, listen_port: int = 0
    ) -> None:
        """Listen on ``listen_port`` of 127.0.0.1 (``0``: a free port)."""
        self._upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rules: list[Rule] = []
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.seen: list[Seen] = []
        self._listener = socket.create_server(("127.0.0.1", listen_port))
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(
            target=self._accept, name=f"fault-proxy-{self.port}", daemon=True
        )
        self._acceptor.start()

    # -- configuration ------------------------------------------------------------

    def inject(
        self,
        action: Action,
        *,
        method: str | None = None,
        path: str | None = None,
        query: str | None = None,
        ranged: bool | None = None,
        nth: int | tuple[int, ...] | None = None,
    ) -> Rule:
        """Add a fault; earlier faults win when several match one request."""
        occurrences = frozenset([nth] if isinstance(nth, int) else nth) if nth else None
        rule = Rule(action, method, path, query, ranged, occurrences)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every fault: from now on the proxy only forwards."""
        with self._lock:
            self._rules.clear()

    def url(self, azurite_url: str) -> str:
        """``azurite_url`` with the proxy's port in place of Azurite's."""
        parts = urllib.parse.urlsplit(azurite_url)
        return parts._replace(netloc=f"127.0.0.1:{self.port}").geturl()

    @property
    def faults_fired(self) -> int:
        with self._lock:
            return sum(1 for seen in self.seen if seen.fault is not None)

    # -- life cycle ---------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting, end every connection and stall, and join every thread.

        :raises RuntimeError: if a thread of the proxy did not end.
        """
        self._stop.set()
        # shutdown() wakes a thread blocked in accept() or recv() on Linux.
        with self._lock:
            sockets = [self._listener, *self._connections]
        for sock in sockets:
            # OSError: not connected, or the peer has gone already.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(_JOIN_TIMEOUT_S)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(_JOIN_TIMEOUT_S)
        alive = [t.name for t in [self._acceptor, *threads] if t.is_alive()]
        if alive:
            raise RuntimeError(f"fault proxy threads did not end: {alive}")

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- serving ------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed by close()
            thread = threading.Thread(
                target=self._serve,
                args=(connection,),
                name=f"fault-proxy-{self.port}-conn",
                daemon=True,
            )
            with self._lock:
                if self._stop.is_set():
                    connection.close()
                    return
                self._connections.add(connection)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: http.client.HTTPConnection | None = None
        reader = client.makefile("rb")
        try:
            while not self._stop.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                parts = urllib.parse.urlsplit(target)
                path = urllib.parse.unquote(parts.path)
                byte_range = headers.get("x-ms-range") or headers.get("range")
                rule = self._match(method, path, parts.query, byte_range)
                with self._lock:
                    fault = type(rule.action).__name__ if rule else None
                    self.seen.append(Seen(method, path, parts.query, byte_range, fault))
                action = rule.action if rule else None
                if isinstance(action, Respond):
                    client.sendall(_error_response(action))
                    continue
                if isinstance(action, Reset):
                    _reset(client)
                    return
                if isinstance(action, Stall) and action.after is None:
                    self._stop.wait(action.seconds)
                    return
                if isinstance(action, Before):
                    action.callback()
                if upstream is None:
                    upstream = http.client.HTTPConnection(*self._upstream, timeout=30)
                head, payload, keep_alive = _forward(upstream, method, target, headers, body)
                if isinstance(action, LoseResponse):
                    _reset(client)
                    return
                if not self._respond(client, head, payload, action):
                    return
                if not keep_alive:
                    upstream.close()
                    upstream = None
        except OSError:
            return  # the client went away, or close() shut the socket
        finally:
            reader.close()
            if upstream is not None:
                upstream.close()
            with self._lock:
                self._connections.discard(client)
            client.close()

    def _match(self, method: str, path: str, query: str, byte_range: str | None) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.applies(method, path, query, byte_range):
                    return rule
        return None

    def _respond(
        self, client: socket.socket, head: bytes, payload: bytes, action: Action | None
    ) -> bool:
        """Send the response, broken as ``action`` says; returns whether to go on."""
        if isinstance(action, (ResetMidBody, Truncate, Stall)):
            cut = min(action.after or 0, max(0, len(payload) - 1))
            client.sendall(head + payload[:cut])
            if isinstance(action, ResetMidBody):
                _reset(client)
            elif isinstance(action, Stall):
                self._stop.wait(action.seconds)
            return False
        client.sendall(head + payload)
        return True


def _read_request(reader: BinaryIO) -> tuple[str, str, dict[str, str], bytes] | None:
    """One request from a client connection, or None when the client closed it."""
    line = reader.readline(65537)
    if not line:
        return None
    method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    message = http.client.parse_headers(reader)  # type: ignore[arg-type]
    headers = {name.lower(): value for name, value in message.items()}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b"".join(_chunks(reader))
        headers.pop("transfer-encoding")
        headers["content-length"] = str(len(body))
    else:
        body = reader.read(int(headers.get("content-length", "0")))
    return method, target, headers, body


def _chunks(reader: BinaryIO) -> Iterator[bytes]:
    while True:
        size = int(reader.readline().split(b";", 1)[0], 16)
        if size == 0:
            while reader.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return
        yield reader.read(size)
        reader.readline()


def _forward(
    upstream: http.client.HTTPConnection,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
) -> tuple[bytes, bytes, bool]:
    """Send the request to Azurite; returns the response head, body and keep-alive."""
    upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        if name not in _HOP_BY_HOP:
            upstream.putheader(name, value)
    upstream.endheaders(body if body or "content-length" in headers else None)
    response = upstream.getresponse()
    payload = response.read()
    keep_alive = not response.will_close
    lines = [f"HTTP/1.1 {response.status} {response.reason}"]
    has_body = method != "HEAD" and response.status not in (204, 304)
    for name, value in response.getheaders():
        lowered = name.lower()
        if lowered in _HOP_BY_HOP or (has_body and lowered == "content-length"):
            continue
        lines.append(f"{name}: {value}")
    if has_body:
        lines.append(f"Content-Length: {len(payload)}")
    lines.append("Connection: keep-alive")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head, payload, keep_alive


def _error_response(action: Respond) -> bytes:
    code = _ERROR_CODES.get(action.status, "InjectedFault")
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
        "<Message>Injected by the test proxy.</Message></Error>"
    ).encode()
    reason = http.client.responses.get(action.status, "Error")
    lines = [
        f"HTTP/1.1 {action.status} {reason}",
        f"x-ms-error-code: {code}",
        "Content-Type: application/xml",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
    ]
    if action.retry_after is not None:
        lines.append(f"Retry-After: {action.retry_after}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST rather than a FIN: the peer sees 'connection reset'."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
