"""Fixtures of the dataset tests.

This folder is on ``sys.path`` (pytest's ``pythonpath`` setting) so that
``_dataset_children`` (transforms and functions for child processes) is importable
by name in ``spawn`` and ``forkserver`` children, which inherit the parent's
``sys.path``.
"""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from azstoragetorch._core import _shared_transport


@pytest.fixture
def blobs(container, upload):  # type: ignore[no-untyped-def]
    """Upload ``{name: data}`` to the test's container; returns the blob URLs in name order."""

    def _blobs(contents: dict[str, bytes]) -> list[str]:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: upload(*item), contents.items()))
        return [f"{container.url}/{name}" for name in sorted(contents)]

    return _blobs


class InFlight:
    """Wraps the process's transport and notes how many requests are sent at once."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self._inner = inner
        self._lock = threading.Lock()
        self._current = 0
        self.peak = 0

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            self._current += 1
            self.peak = max(self.peak, self._current)
        try:
            return self._inner.send(request, **kwargs)
        finally:
            with self._lock:
                self._current -= 1


@pytest.fixture
def in_flight(monkeypatch) -> InFlight:  # type: ignore[no-untyped-def]
    tracker = InFlight(_shared_transport.shared_transport())
    monkeypatch.setattr(_shared_transport, "shared_transport", lambda: tracker)
    return tracker
