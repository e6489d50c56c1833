"""BodyReader fills caller buffers and reports progress when a transfer breaks."""

import http.client
import io
import socket
import types

import pytest

from azstoragetorch._core import _body
from azstoragetorch._core._body import BodyReader, TruncatedBodyError


class BreakingStream:
    """A body that delivers ``good`` bytes, in receive calls, then breaks."""

    def __init__(self, good: bytes, error: BaseException | None) -> None:
        self._data = io.BytesIO(good)
        self._error = error
        self.calls: list[int] = []

    def readinto(self, view):
        self.calls.append(len(view))
        count = self._data.readinto(view)
        if count == 0 and self._error is not None:
            raise self._error
        return count


def reader_over(stream):
    # What BodyReader uses of our transport's response: the http.client response
    # (here a stand-in stream) and release()/close() for its connection.
    raw = types.SimpleNamespace(released=False, closed=False)
    response = types.SimpleNamespace(
        internal_response=stream,
        release=lambda: setattr(raw, "released", True),
        close=lambda: setattr(raw, "closed", True),
    )
    return BodyReader(response), raw


def test_a_full_body_fills_the_buffer_and_returns_the_connection(monkeypatch):
    monkeypatch.setattr(_body, "_RECEIVE_CHUNK", 4)
    stream = BreakingStream(b"0123456789", None)
    reader, raw = reader_over(stream)
    buffer = bytearray(10)
    assert reader.readinto(memoryview(buffer)) == 10
    assert buffer == b"0123456789"
    assert max(stream.calls) <= 4  # bounded receive calls
    reader.release()
    assert raw.released


def test_a_reset_mid_body_reports_how_much_arrived(monkeypatch):
    monkeypatch.setattr(_body, "_RECEIVE_CHUNK", 4)
    reader, _ = reader_over(BreakingStream(b"0123456", ConnectionResetError("reset by peer")))
    buffer = bytearray(10)
    with pytest.raises(ConnectionResetError) as caught:
        reader.readinto(memoryview(buffer))
    assert caught.value.bytes_received == 7
    assert buffer[:7] == b"0123456"


def test_a_body_that_ends_early_is_truncated():
    reader, _ = reader_over(BreakingStream(b"abc", None))
    with pytest.raises(TruncatedBodyError, match="after 3 of 5 bytes") as caught:
        reader.readinto(memoryview(bytearray(5)))
    assert caught.value.bytes_received == 3


def test_http_client_responses_are_read_directly():
    left, right = socket.socketpair()
    with left, right:
        right.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        inner = http.client.HTTPResponse(left)
        inner.begin()
        reader, _ = reader_over(inner)
        buffer = bytearray(5)
        assert reader.readinto(memoryview(buffer)) == 5
        assert buffer == b"hello"


def test_a_body_dropped_unread_closes_its_connection():
    reader, raw = reader_over(BreakingStream(b"0123", None))
    reader.discard()
    assert raw.closed
    assert not raw.released


def test_importing_the_library_does_not_import_requests():
    # requests and urllib3 cost tens of milliseconds to import and are needed only
    # for hosts behind a proxy.
    import subprocess
    import sys

    code = (
        "import sys, azstoragetorch.io, azstoragetorch.datasets;"
        "print(sorted(m for m in ('requests', 'urllib3') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert output.strip() == "[]"


def test_a_request_without_a_proxy_configured_does_not_import_requests(tmp_path):
    # With no proxy in the environment, deciding a host's route needs no requests.
    import os
    import subprocess
    import sys

    code = (
        "import sys, http.server, threading\n"
        "from azure.core.pipeline.transport import HttpRequest\n"
        "from azstoragetorch._core._http_transport import HttpClientTransport\n"
        "server = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
        "url = f'http://127.0.0.1:{server.server_address[1]}/'\n"
        "with HttpClientTransport() as transport:\n"
        "    assert transport.send(HttpRequest('GET', url)).status_code == 200\n"
        "print(sorted(m for m in ('requests', 'urllib3') if m in sys.modules))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    output = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
    ).stdout
    assert output.strip() == "[]"
