"""The http.client transport against a real HTTP server on a local socket."""

import concurrent.futures
import contextlib
import gc
import http.server
import io
import os
import select
import socket
import sys
import threading

import pytest
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpRequest

from azstoragetorch._core import _shared_transport
from azstoragetorch._core._body import BodyReader
from azstoragetorch._core._http_transport import HttpClientResponse, HttpClientTransport, _split

BODY = bytes(range(256)) * 64  # 16 KiB


class Handler(http.server.BaseHTTPRequestHandler):
    """Keep-alive answers; a few paths misbehave the way real servers sometimes do."""

    protocol_version = "HTTP/1.1"
    server: "Server"

    def setup(self) -> None:
        super().setup()
        self.served_here = 0
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.served_here += 1
        with self.server.lock:
            self.server.requests.append((self.command, self.path, dict(self.headers)))
        if self.path == "/silent":
            self.server.release.wait(10)  # never answers in time
            self.close_connection = True
            return
        if self.path == "/drop-second" and self.served_here == 2:
            self.close_connection = True  # as if it had timed the idle connection out
            return
        body = b"" if self.path == "/missing" else BODY
        if self.path == "/busy":
            body = b"<Error><Code>ServerBusy</Code></Error>"
        self.send_response({"/missing": 404, "/busy": 503}.get(self.path, 200))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Twice", "a")
        self.send_header("x-twice", "b")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if self.path == "/close-after":
            self.close_connection = True  # without telling the client

    do_HEAD = do_GET

    def do_PUT(self) -> None:
        self.served_here += 1
        if self.path == "/drop-second" and self.served_here == 2:
            self.close_connection = True  # unread body and all, as an idle timeout would
            with self.server.lock:
                self.server.requests.append((self.command, self.path, dict(self.headers)))
            return
        if self.headers.get("Transfer-Encoding") == "chunked":
            received = self._read_chunked()
        else:
            received = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.requests.append((self.command, self.path, dict(self.headers)))
            self.server.bodies.append(received)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self.do_GET()

    def _read_chunked(self) -> bytes:
        received = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            received += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()  # the empty trailer
        return received


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.bodies: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        # A client dropping a connection mid-body is what some tests do on purpose.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@pytest.fixture
def server():
    server = Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def transport():
    with HttpClientTransport() as transport:
        yield transport


def get(transport, url, **kwargs):
    return transport.send(HttpRequest("GET", url), **kwargs)


def test_sequential_requests_share_one_connection(server, transport):
    for _ in range(5):
        response = get(transport, f"{server.url}/blob")
        assert response.status_code == 200
        assert response.body() == BODY
    assert server.connections == 1
    assert len(server.requests) == 5


def test_an_error_response_is_read_and_its_connection_reused(server, transport):
    response = get(transport, f"{server.url}/missing")
    assert response.status_code == 404
    get(transport, f"{server.url}/blob")
    assert server.connections == 1


def test_a_streamed_error_response_dropped_unread_gives_its_connection_back(server, transport):
    response = get(transport, f"{server.url}/busy", stream=True)
    assert response.status_code == 503
    del response  # as RetryPolicy does before it retries
    assert get(transport, f"{server.url}/blob").body() == BODY
    assert server.connections == 1


def test_a_response_dropped_with_its_body_unread_closes_its_socket(server, transport):
    response = get(transport, f"{server.url}/blob", stream=True)
    sock = response._connection.sock
    del response
    gc.collect()
    assert sock.fileno() == -1


def test_a_response_finished_after_the_transport_closed_closes_its_connection(server, transport):
    # A dataset's read-ahead may still be receiving when the transport is closed
    # (the reliability tests' leak check closes it). Its connection must then be
    # closed, not kept by a pool that nobody will close: that left sockets open, in
    # CLOSE_WAIT once the server went, until the garbage collector found them.
    response = get(transport, f"{server.url}/blob", stream=True)
    sock = response._connection.sock
    transport.close()
    assert response.body() == BODY
    assert sock.fileno() == -1
    assert get(transport, f"{server.url}/blob").body() == BODY  # a new pool serves on


def test_a_head_response_keeps_its_connection(server, transport):
    head = transport.send(HttpRequest("HEAD", f"{server.url}/blob"))
    assert head.headers["content-length"] == str(len(BODY))
    get(transport, f"{server.url}/blob")
    assert server.connections == 1


def test_headers_are_case_insensitive_and_repeats_are_joined(server, transport):
    response = get(transport, f"{server.url}/blob")
    assert response.headers["CONTENT-LENGTH"] == str(len(BODY))
    assert response.headers["x-twice"] == "a, b"
    assert response.content_type is None
    assert response.reason == "OK"


def test_a_streamed_body_is_read_into_the_callers_buffer(server, transport):
    response = get(transport, f"{server.url}/blob", stream=True)
    assert isinstance(response, HttpClientResponse)
    buffer = bytearray(len(BODY))
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        filled += response.internal_response.readinto(view[filled:])
    response.release()
    assert buffer == BODY
    get(transport, f"{server.url}/blob")
    assert server.connections == 1


def test_a_partly_read_body_does_not_return_its_connection(server, transport):
    response = get(transport, f"{server.url}/blob", stream=True)
    response.internal_response.readinto(memoryview(bytearray(100)))
    response.release()  # the rest of the body is still on the wire
    assert get(transport, f"{server.url}/blob").body() == BODY
    assert server.connections == 2


def test_a_connection_the_server_closed_while_idle_is_not_reused(server, transport):
    get(transport, f"{server.url}/close-after")
    assert get(transport, f"{server.url}/blob").body() == BODY
    assert server.connections == 2
    assert len(server.requests) == 2  # noticed before sending, not by a failure


def test_a_closed_idle_connection_is_noticed_without_poll(server, transport, monkeypatch):
    monkeypatch.delattr(select, "poll")  # as on Windows
    get(transport, f"{server.url}/close-after")
    assert get(transport, f"{server.url}/blob").body() == BODY
    assert server.connections == 2
    assert len(server.requests) == 2


def test_a_stale_connection_is_retried_once_on_a_new_one(server, transport):
    get(transport, f"{server.url}/drop-second")
    response = get(transport, f"{server.url}/drop-second")  # dropped, then sent again
    assert response.body() == BODY
    assert server.connections == 2
    assert [path for _, path, _ in server.requests] == ["/drop-second"] * 3


def test_a_stale_connection_is_not_retried_for_a_post(server, transport):
    transport.send(HttpRequest("POST", f"{server.url}/drop-second"))
    with pytest.raises(ServiceResponseError) as caught:
        transport.send(HttpRequest("POST", f"{server.url}/drop-second"))
    assert not isinstance(caught.value, ServiceResponseTimeoutError)
    assert len(server.requests) == 2


def test_a_memoryview_body_is_sent_with_its_length(server, transport):
    data = bytearray(os.urandom(3 * 1024 * 1024))
    request = HttpRequest("PUT", f"{server.url}/upload")
    request.set_bytes_body(memoryview(data)[1024:])  # type: ignore[arg-type]
    assert transport.send(request).status_code == 201
    assert server.bodies == [bytes(data[1024:])]
    empty = HttpRequest("PUT", f"{server.url}/empty")
    transport.send(empty)
    assert server.requests[-1][2]["Content-Length"] == "0"


def test_a_file_body_is_sent_from_its_position_with_its_length(server, transport, tmp_path):
    path = tmp_path / "upload.bin"
    data = os.urandom(600 * 1024)
    path.write_bytes(data)
    with path.open("rb") as file:
        file.seek(100)
        request = HttpRequest("PUT", f"{server.url}/upload")
        request.data = file
        assert transport.send(request).status_code == 201
    assert server.requests[-1][2]["Content-Length"] == str(len(data) - 100)
    assert server.bodies == [data[100:]]


def test_an_in_memory_stream_body_is_sent_with_its_length(server, transport):
    request = HttpRequest("PUT", f"{server.url}/upload")
    request.data = io.BytesIO(b"streamed")
    transport.send(request)
    assert server.requests[-1][2]["Content-Length"] == "8"
    assert server.bodies == [b"streamed"]


def test_a_body_of_unknown_length_is_sent_chunked(server, transport):
    request = HttpRequest("PUT", f"{server.url}/upload")
    request.data = iter([b"one ", b"two ", b"three"])
    transport.send(request)
    assert server.requests[-1][2]["Transfer-Encoding"] == "chunked"
    assert server.bodies == [b"one two three"]


def test_a_text_body_is_encoded_as_requests_sends_it(server, transport):
    request = HttpRequest("PUT", f"{server.url}/upload")
    request.set_text_body("blöb")  # whose Content-Length counts characters
    transport.send(request)
    assert server.bodies == ["blöb".encode("iso-8859-1")]


def test_a_file_body_is_rewound_when_a_stale_connection_is_retried(server, transport):
    first = HttpRequest("PUT", f"{server.url}/drop-second")
    first.set_bytes_body(b"first")
    transport.send(first)
    data = os.urandom(200 * 1024)
    second = HttpRequest("PUT", f"{server.url}/drop-second")
    second.data = io.BytesIO(data)
    assert transport.send(second).status_code == 201
    assert server.bodies == [b"first", data]
    assert server.connections == 2


def test_a_one_shot_body_is_not_retried_on_a_stale_connection(server, transport):
    first = HttpRequest("PUT", f"{server.url}/drop-second")
    first.set_bytes_body(b"first")
    transport.send(first)
    second = HttpRequest("PUT", f"{server.url}/drop-second")
    second.data = iter([b"x" * 1024] * 256)  # gone once sent
    with pytest.raises(ServiceResponseError):
        transport.send(second)
    assert server.bodies == [b"first"]


def test_concurrent_requests_each_get_their_own_response(server, transport):
    def fetch(index: int) -> bytes:
        return get(transport, f"{server.url}/blob?n={index}").body()

    with concurrent.futures.ThreadPoolExecutor(8) as threads:
        bodies = list(threads.map(fetch, range(200)))
    assert bodies == [BODY] * 200
    assert len(server.requests) == 200
    assert server.connections <= 8  # connections were reused, never shared at once


def test_a_streamed_body_is_received_into_the_callers_buffer_without_a_copy(server, transport):
    response = get(transport, f"{server.url}/blob", stream=True)
    inner = response.internal_response
    receive = inner.readinto
    targets = []

    def noting_readinto(view):
        targets.append(view.obj)
        return receive(view)

    inner.readinto = noting_readinto
    buffer = bytearray(len(BODY))
    reader = BodyReader(response)
    assert reader.readinto(memoryview(buffer)) == len(BODY)
    reader.release()
    assert buffer == BODY
    assert targets
    assert all(target is buffer for target in targets)


@pytest.mark.parametrize(
    ("url", "origin", "target"),
    [
        ("http://h:1/a/b?x=1", "http://h:1", "/a/b?x=1"),
        ("http://h:1?comp=list", "http://h:1", "/?comp=list"),
        ("http://h:1", "http://h:1", "/"),
        ("https://h/a#frag", "https://h", "/a"),
    ],
)
def test_a_url_splits_into_its_origin_and_request_target(url, origin, target):
    assert _split(url) == (origin, target)


def test_no_accept_encoding_is_sent(server, transport):
    get(transport, f"{server.url}/blob")
    assert "Accept-Encoding" not in server.requests[0][2]


def test_a_silent_server_is_a_response_timeout(server, transport):
    with pytest.raises(ServiceResponseTimeoutError):
        get(transport, f"{server.url}/silent", read_timeout=0.3)


def test_a_refused_connection_is_a_request_error(transport):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ServiceRequestError) as caught:
        get(transport, f"http://127.0.0.1:{port}/blob")
    assert not isinstance(caught.value, ServiceResponseError)


def test_a_host_that_does_not_accept_is_a_connect_timeout(transport):
    # A full accept queue makes the kernel drop further connection attempts.
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        for _ in range(4):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
        port = listener.getsockname()[1]
        with pytest.raises(ServiceRequestTimeoutError):
            get(transport, f"http://127.0.0.1:{port}/blob", connection_timeout=0.3)


def test_a_proxy_in_the_environment_sends_through_it(server, monkeypatch):
    target = "http://storage.invalid:10000/account/blob"
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with HttpClientTransport() as transport:
        response = get(transport, target)
    assert response.status_code == 200
    assert server.requests[0][1] == target  # a proxy is sent the absolute URL


@pytest.mark.parametrize("variable", ["ALL_PROXY", "http_proxy", "all_proxy"])
def test_every_proxy_variable_requests_reads_is_honoured(server, monkeypatch, variable):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv(variable, server.url)
    with HttpClientTransport() as transport:
        response = get(transport, "http://storage.invalid:10000/account/blob")
    assert not isinstance(response, HttpClientResponse)
    assert server.requests[0][1] == "http://storage.invalid:10000/account/blob"


def test_a_proxies_option_sends_through_the_requests_transport(server, transport):
    response = get(transport, "http://storage.invalid:10000/x", proxies={"http": server.url})
    assert response.status_code == 200
    assert not isinstance(response, HttpClientResponse)
    assert server.requests[0][1] == "http://storage.invalid:10000/x"


def test_no_proxy_sends_directly(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with HttpClientTransport() as transport:
        assert get(transport, f"{server.url}/blob").body() == BODY
    assert server.requests[0][1] == "/blob"


def test_the_environment_is_read_once_per_host(server, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    with HttpClientTransport() as transport:
        assert get(transport, f"{server.url}/blob").body() == BODY
        # Decided when the host was first contacted: a proxy set later is not read.
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        response = get(transport, f"{server.url}/blob")
        assert isinstance(response, HttpClientResponse)
        assert response.body() == BODY
    # A new transport (as in a new process) reads it, and goes to the dead proxy.
    with HttpClientTransport() as transport, pytest.raises(ServiceRequestError):
        get(transport, f"{server.url}/blob")
    assert server.connections == 1


# Python 3.12+ warns about forking a process with threads (the server's); the
# child here only sends one request and exits.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_opens_its_own_connections(server):
    parent = _shared_transport.shared_transport()
    assert get(parent, f"{server.url}/blob").body() == BODY
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            child = _shared_transport.shared_transport()
            ok = child is not parent and get(child, f"{server.url}/blob").body() == BODY
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert server.connections == 2
    # The parent's connection was neither used nor closed by the child.
    assert get(parent, f"{server.url}/blob").body() == BODY
    assert server.connections == 2
    parent.close()  # the process's transport stays usable; its idle sockets go
