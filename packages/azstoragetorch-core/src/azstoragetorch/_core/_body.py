"""Reading a streamed response body straight into a caller's buffer."""

from __future__ import annotations

import http.client
from typing import Any

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


# What a body read raises when the connection breaks mid-transfer. urllib3's and
# requests' own errors (the requests transport, for proxied hosts) are raised as
# ServiceResponseError, so that importing this library does not import requests.
BODY_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    http.client.HTTPException,
    ServiceResponseError,
)


def _requests_errors() -> tuple[type[BaseException], ...]:
    # Called only for a response of the requests transport, which has imported both.
    import requests.exceptions
    import urllib3.exceptions

    return (urllib3.exceptions.HTTPError, requests.exceptions.RequestException)


class BodyReader:
    """Receives one streamed response's body into memoryviews, then frees it.

    The body is read with the standard library's ``http.client.HTTPResponse.readinto``,
    which receives straight into the caller's buffer. Our own transport hands that
    response over as is; behind the requests transport (used when a proxy applies)
    it sits under the urllib3 response, whose own ``readinto`` reads into a
    temporary bytes object and copies.
    """

    def __init__(self, response: HttpResponse) -> None:
        self._ours = response if isinstance(response, HttpClientResponse) else None
        if self._ours is not None:
            self._raw: Any = None
            self._stream: Any = self._ours.internal_response
            return
        self._raw = response.internal_response.raw
        inner = getattr(self._raw, "_fp", None)
        plain = not response.headers.get("Content-Encoding")
        self._stream = inner if isinstance(inner, http.client.HTTPResponse) and plain else self._raw

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
        except Exception as error:
            if self._ours is not None or not isinstance(error, _requests_errors()):
                raise
            broken = ServiceResponseError(
                f"The connection broke: {type(error).__name__}: {error}", error=error
            )
            broken.bytes_received = filled  # type: ignore[attr-defined]
            raise broken from error
        return filled

    def release(self) -> None:
        """Give a fully read connection back to the pool for the next request."""
        if self._ours is not None:
            self._ours.release()
        else:
            self._raw.release_conn()

    def discard(self) -> None:
        """Drop the connection of a body that was not (or not fully) read."""
        if self._ours is not None:
            self._ours.close()
        else:
            self._raw.close()
