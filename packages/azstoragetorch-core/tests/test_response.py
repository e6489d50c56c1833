"""The response class our connections use reads heads exactly as the standard library does."""

from __future__ import annotations

import http.client
import io

import pytest

from azstoragetorch._core._response import MAX_HEADERS, FastHeadersResponse


class _Socket:
    """Just enough of a socket for ``HTTPResponse``: it reads through ``makefile``."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._data))  # type: ignore[arg-type]


def _begin(
    cls: type[http.client.HTTPResponse], data: bytes, method: str = "GET"
) -> http.client.HTTPResponse:
    response = cls(_Socket(data), method=method)  # type: ignore[arg-type]
    response.begin()
    return response


def _head(*lines: str, status: str = "HTTP/1.1 200 OK") -> bytes:
    return "\r\n".join((status, *lines, "", "")).encode("iso-8859-1")


HEADS = {
    "storage GET": _head(
        "Content-Length: 5",
        "Content-Type: application/octet-stream",
        'ETag: "0x8DC"',
        "x-ms-request-id: 1",
        "x-ms-client-request-id: 2",
        "Connection: keep-alive",
    ),
    "no length, HTTP/1.1": _head("Content-Type: text/plain"),
    "chunked": _head("Transfer-Encoding: chunked"),
    "chunked wins over length": _head("Transfer-Encoding: Chunked", "Content-Length: 3"),
    "connection close": _head("Content-Length: 5", "Connection: Close"),
    "HTTP/1.0 default": _head("Content-Length: 5", status="HTTP/1.0 200 OK"),
    "HTTP/1.0 keep-alive": _head(
        "Content-Length: 5", "Keep-Alive: timeout=5", status="HTTP/1.0 200 OK"
    ),
    "HTTP/1.0 connection keep-alive": _head(
        "Content-Length: 5", "Connection: Keep-Alive", status="HTTP/1.0 200 OK"
    ),
    "negative length": _head("Content-Length: -4"),
    "bad length": _head("Content-Length: five"),
    "204": _head("Content-Length: 9", status="HTTP/1.1 204 No Content"),
    "304": _head(status="HTTP/1.1 304 Not Modified"),
    "no reason": _head("Content-Length: 0", status="HTTP/1.1 404"),
    "odd spacing": _head("content-length:5", "X-Pad:  padded  ", "X-Empty:"),
    "latin-1": _head("Content-Length: 5", "X-Name: caf\xe9"),
    "after 100 Continue": b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
    + _head("Content-Length: 5", "X-Final: 1"),
    "repeated length": _head("Content-Length: 5", "Content-Length: 5"),
    "repeated chunked": _head("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
}


@pytest.mark.parametrize("name", list(HEADS))
def test_head_is_read_as_the_standard_library_reads_it(name: str) -> None:
    data = HEADS[name] + b"hello"
    ours = _begin(FastHeadersResponse, data)
    theirs = _begin(http.client.HTTPResponse, data)
    for field in ("status", "reason", "version", "length", "chunked", "will_close"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert {name.lower() for name, _ in ours.getheaders()} == {
        name.lower() for name, _ in theirs.getheaders()
    }
    for name, value in theirs.getheaders():
        # The first of a repeated header's values leads ours (the rest are joined on).
        assert ours.getheader(name).startswith(value)
    assert ours.getheader("missing", "default") == "default"


def test_head_request_has_no_body() -> None:
    data = _head("Content-Length: 1234")
    assert _begin(FastHeadersResponse, data, method="HEAD").length == 0
    assert _begin(FastHeadersResponse, data).length == 1234


def test_repeated_header_is_one_value() -> None:
    response = _begin(
        FastHeadersResponse, _head("Vary: Origin", "vary: Accept", "Content-Length: 0")
    )
    assert response.headers["VARY"] == "Origin, Accept"


def test_folded_line_continues_the_header_before_it() -> None:
    response = _begin(FastHeadersResponse, _head("X-Long: first", "\tsecond", "Content-Length: 0"))
    assert response.headers["x-long"] == "first second"


def test_body_is_read_with_the_standard_library() -> None:
    fixed = _begin(FastHeadersResponse, _head("Content-Length: 5") + b"helloEXTRA")
    assert fixed.read() == b"hello"
    assert fixed.isclosed()
    chunked = _begin(
        FastHeadersResponse, _head("Transfer-Encoding: chunked") + b"3\r\nabc\r\n0\r\n\r\n"
    )
    assert chunked.read() == b"abc"
    until_close = _begin(FastHeadersResponse, _head() + b"to the end")
    assert until_close.read() == b"to the end"


def test_too_many_headers_are_refused() -> None:
    # As in the standard library, the blank line counts: 99 headers pass, 100 do not.
    lines = [f"X-{i}: {i}" for i in range(MAX_HEADERS)]
    for cls in (FastHeadersResponse, http.client.HTTPResponse):
        with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
            _begin(cls, _head(*lines))
        _begin(cls, _head(*lines[:-1]))


def test_overlong_header_line_is_refused() -> None:
    with pytest.raises(http.client.LineTooLong):
        _begin(FastHeadersResponse, _head("X-Big: " + "a" * 70000))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", http.client.RemoteDisconnected),
        (b"SPDY/3 200 OK\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/2.0 200 OK\r\n\r\n", http.client.UnknownProtocol),
    ],
)
def test_bad_status_line_raises_as_the_standard_library_does(
    data: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        _begin(FastHeadersResponse, data)
    with pytest.raises(error):
        _begin(http.client.HTTPResponse, data)


def test_line_that_is_not_a_header_is_ignored() -> None:
    # No colon, or space before it (RFC 9112 forbids it): neither names a header.
    response = _begin(
        FastHeadersResponse, _head("Content-Length: 0", "not a header", "X-Bad : 1", "X-Good: 2")
    )
    assert dict(response.getheaders()) == {"Content-Length": "0", "X-Good": "2"}
