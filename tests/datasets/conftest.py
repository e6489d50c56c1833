"""Fixtures of the dataset tests.

This folder is on ``sys.path`` (pytest's ``pythonpath`` setting) so that
``_dataset_children`` (transforms and functions for child processes) is importable
by name in ``spawn`` and ``forkserver`` children, which inherit the parent's
``sys.path``.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest
from _fault_proxy import FaultProxy


@pytest.fixture
def blobs(container, upload):  # type: ignore[no-untyped-def]
    """Upload ``{name: data}`` to the test's container; returns the blob URLs in name order."""

    def _blobs(contents: dict[str, bytes]) -> list[str]:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: upload(*item), contents.items()))
        return [f"{container.url}/{name}" for name in sorted(contents)]

    return _blobs


@pytest.fixture
def proxy(azurite) -> Iterator[FaultProxy]:  # type: ignore[no-untyped-def]
    """A proxy in front of Azurite that notes every request, from every process."""
    with FaultProxy(azurite.port) as fault_proxy:
        yield fault_proxy
