"""Records the real requests that reach Azurite, at the transport seam."""

from __future__ import annotations

import dataclasses
import threading
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
    """Wraps the process's real transport and notes every request it sends."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.in_flight_bytes = 0
        self.max_in_flight_bytes = 0

    def send(self, request: Any, **kwargs: Any) -> Any:
        size = len(request.data) if isinstance(request.data, (bytes, bytearray, memoryview)) else 0
        with self._lock:
            self.requests.append(Recorded(request.method, request.url, dict(request.headers), size))
            self.in_flight_bytes += size
            self.max_in_flight_bytes = max(self.max_in_flight_bytes, self.in_flight_bytes)
        try:
            return self._inner.send(request, **kwargs)
        finally:
            with self._lock:
                self.in_flight_bytes -= size

    def count(self, method: str, contains: str = "") -> int:
        return sum(1 for r in self.requests if r.method == method and contains in r.url)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> RecordingTransport:
    recording = RecordingTransport(_shared_transport.shared_transport())
    monkeypatch.setattr(_shared_transport, "shared_transport", lambda: recording)
    return recording
