"""Records the real requests that reach Azurite, at the transport seam.

The ``recorder`` fixture wraps the process's transport for one test; a child
process (a rank, a worker) that has no fixtures uses ``recording()`` instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from azstoragetorch._core import _shared_transport


@dataclasses.dataclass
class Recorded:
    method: str
    url: str
    headers: dict[str, str]
    body_size: int


class RecordingTransport:
    """Wraps the process's real transport and notes every request it sends.

    ``fail``, if given, is asked about each request once it is noted; where it says
    yes, the request is not sent and ``RuntimeError("injected <method> failure")``
    is raised.
    """

    def __init__(self, inner: Any, fail: Callable[[Recorded], bool] | None = None) -> None:
        self._inner = inner
        self._fail = fail
        self._lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.in_flight_bytes = 0
        self.max_in_flight_bytes = 0
        self.in_flight_requests = 0
        self.max_in_flight_requests = 0  # the most requests sent at once

    def send(self, request: Any, **kwargs: Any) -> Any:
        size = len(request.data) if isinstance(request.data, (bytes, bytearray, memoryview)) else 0
        recorded = Recorded(request.method, request.url, dict(request.headers), size)
        with self._lock:
            self.requests.append(recorded)
            if self._fail is not None and self._fail(recorded):
                raise RuntimeError(f"injected {recorded.method} failure")
            self.in_flight_bytes += size
            self.max_in_flight_bytes = max(self.max_in_flight_bytes, self.in_flight_bytes)
            self.in_flight_requests += 1
            self.max_in_flight_requests = max(self.max_in_flight_requests, self.in_flight_requests)
        try:
            return self._inner.send(request, **kwargs)
        finally:
            with self._lock:
                self.in_flight_bytes -= size
                self.in_flight_requests -= 1

    def count(self, method: str, contains: str = "") -> int:
        return sum(1 for r in self.requests if r.method == method and contains in r.url)

    def ranged_bytes(self, contains: str = "") -> int:
        """How many bytes the ranged GETs to URLs containing ``contains`` asked for."""
        total = 0
        for r in self.requests:
            span = r.headers.get("x-ms-range", "")
            if r.method == "GET" and contains in r.url and span:
                first, last = span.removeprefix("bytes=").split("-")
                total += int(last) - int(first) + 1
        return total


@contextlib.contextmanager
def recording(fail: Callable[[Recorded], bool] | None = None) -> Iterator[RecordingTransport]:
    """Route this process's requests through a ``RecordingTransport`` for the block."""
    original = _shared_transport.shared_transport
    recorder = RecordingTransport(original(), fail)
    _shared_transport.shared_transport = lambda: recorder  # type: ignore[assignment,return-value]
    try:
        yield recorder
    finally:
        _shared_transport.shared_transport = original


@pytest.fixture
def recorder() -> Iterator[RecordingTransport]:
    with recording() as recording_transport:
        yield recording_transport
