"""Reading a streamed response body straight into a caller's buffer."""

from __future__ import annotations

import http.client
from typing import Any, cast

from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import HttpResponse

from azstoragetorch._core._http_transport import HttpClientResponse

__all__ = ["BODY_ERRORS", "BodyReader", "TruncatedBodyError"]

# The most one receive call may fill. A connection that breaks inside a call loses
# the count of what that call received, so bounded calls let a retry resume close
# to where the transfer stopped.
_RECEIVE_CHUNK = 8 * 1024 * 1024


class TruncatedBodyError(ConnectionError):
    """The connection ended before the body's announced length arrived."""


# What a body read raises when the connection breaks mid-transfer.
BODY_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    http.client.HTTPException,
    ServiceResponseError,
)


class BodyReader:
    """Receives one streamed response's body into memoryviews, then frees it.

    The body is read with the standard library's ``http.client.HTTPResponse.readinto``,
    which receives straight into the caller's buffer: every request goes through
    our transport, which hands that response over as is.
    """

    def __init__(self, response: HttpResponse) -> None:
        self._response = cast(HttpClientResponse, response)
        self._stream: Any = response.internal_response

    def readinto(self, destination: memoryview) -> int:
        """Fill ``destination``; raises :class:`TruncatedBodyError` if the body ends first.

        On a connection error, the exception carries ``bytes_received``: how much of
        ``destination`` was filled before it, so a caller can resume from there.
        """
        filled = 0
        total = len(destination)
        try:
            while filled < total:
                count = self._stream.readinto(destination[filled : filled + _RECEIVE_CHUNK])
                if not count:
                    raise TruncatedBodyError(f"the body ended after {filled} of {total} bytes")
                filled += count
        except BODY_ERRORS as error:
            error.bytes_received = filled  # type: ignore[attr-defined]
            raise
        return filled

    def release(self) -> None:
        """Give a fully read connection back to the pool for the next request."""
        self._response.release()

    def discard(self) -> None:
        """Drop the connection of a body that was not (or not fully) read."""
        self._response.close()
