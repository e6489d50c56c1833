"""A ``http.client.HTTPResponse`` that reads its header block without the email package.

The standard library parses response headers with ``email.parser``, a general MIME
parser: for the twenty-odd headers of a storage response it costs more client CPU
than the rest of ``http.client`` together, and for small blobs that CPU bounds the
samples per second. This class reads the status line with the standard library's
own code and the header lines itself, straight into the case-insensitive mapping
the azure-core response exposes; the body is read by the standard library,
unchanged, from the fields :meth:`begin` sets (``length``, ``chunked``,
``will_close``).

What it keeps from the standard library: the limits on a line's length and on the
number of header lines, ``100 Continue`` responses skipped, ISO-8859-1 decoding,
and how the body is framed (``Transfer-Encoding``, ``Content-Length`` and the
header's first value when it is repeated; no body for ``HEAD``, ``204``, ``304`` and
1xx). Where it differs, it follows RFC 9110/9112 rather than the email format: a
header that appears more than once is one value, its values joined by ``", "``; a
folded (continuation) line joins the value before it with a space; and a line that
is not a header is skipped, where the email parser would end the headers there.
"""

from __future__ import annotations

import http.client
from typing import BinaryIO

from azure.core.utils import CaseInsensitiveDict

__all__ = ["FastHeadersResponse", "read_header_block"]

# The standard library's limits: a line's length, and the header lines it reads,
# the blank line that ends them included (so 99 headers at most).
MAX_LINE = 65536
MAX_HEADERS = 100
_BLANK = (b"\r\n", b"\n", b"")
_NO_BODY_STATUSES = frozenset({http.client.NO_CONTENT, http.client.NOT_MODIFIED})


def read_header_block(stream: BinaryIO) -> CaseInsensitiveDict:
    """Read header lines up to and including the blank line that ends them.

    :raises http.client.LineTooLong: A line is longer than ``MAX_LINE`` bytes.
    :raises http.client.HTTPException: There are more than ``MAX_HEADERS`` lines.
    """
    headers = CaseInsensitiveDict()
    name = ""
    count = 0
    while True:
        line = stream.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        count += 1
        if count > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in _BLANK:
            return headers
        text = line.decode("iso-8859-1")
        if text[0] in " \t":
            if name:  # a folded line continues the header before it
                headers[name] = f"{headers[name]} {text.strip()}"
            continue
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.rstrip():
            name = ""  # not a header line (RFC 9112 allows no space before the colon)
            continue
        value = value.lstrip(" \t").rstrip("\r\n")  # as the standard library keeps it
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous}, {value}"


def _first(value: str | None) -> str | None:
    """The first of a joined header's values."""
    return None if value is None else value.split(",", 1)[0].strip()


class FastHeadersResponse(http.client.HTTPResponse):
    """``HTTPResponse`` whose ``headers`` (and ``msg``) is a ``CaseInsensitiveDict``.

    Set it as a connection's ``response_class``. Only :meth:`begin` differs;
    ``getheader`` and ``getheaders`` work on the mapping as before.
    """

    def begin(self) -> None:
        if self.headers is not None:
            return  # already begun
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            read_header_block(self.fp)  # an interim response's headers carry nothing
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        headers = read_header_block(self.fp)
        self.headers = self.msg = headers

        # Framing follows a repeated header's first value, as the standard library's
        # does (it reads the first of the repeated lines).
        encoding = _first(headers.get("Transfer-Encoding"))
        self.chunked = bool(encoding) and encoding.lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = _first(headers.get("Content-Length"))
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                pass
            else:
                if self.length < 0:
                    self.length = None
        if status in _NO_BODY_STATUSES or 100 <= status < 200 or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True  # the body ends when the server closes

    def getheader(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        value = self.headers.get(name)
        return default if value is None else value

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.headers.items())
