"""One read has one retry budget, whichever layer retries: counted at the fault proxy."""

from __future__ import annotations

import pytest
from _fault_proxy import Reset, Respond, Truncate
from _fixtures import random_bytes

from azstoragetorch.exceptions import BlobServiceError
from azstoragetorch.io import BlobIO
from azstoragetorch.options import ClientOptions

pytestmark = [pytest.mark.usefixtures("no_leaks"), pytest.mark.timeout(60)]

DATA = random_bytes(64 * 1024, seed=7)
# A 4 KiB window at open; the rest of the blob is one direct ranged GET (one part).
WINDOW = 4096


def options(max_retries: int) -> ClientOptions:
    return ClientOptions(
        max_retries=max_retries,
        retry_backoff=0.01,
        retry_backoff_max=0.02,
        read_timeout=2.0,
        read_ahead=WINDOW,
        part_size=8 * 1024 * 1024,
    )


def failing_read_attempts(proxy, url, key, max_retries, faults) -> int:  # type: ignore[no-untyped-def]
    """Open the blob (its GET succeeds), then read the rest while every GET fails.

    ``faults`` holds one fault, or two that take turns.
    """
    with BlobIO(proxy.url(url), "rb", credential=key, options=options(max_retries)) as f:
        opened = len(proxy.seen)
        first, *rest = faults
        # A rule counts the GETs that reach it after it was added: the first fault
        # takes every other GET when there are two, the second all the GETs left.
        proxy.inject(first, method="GET", nth=tuple(range(1, 200, 2)) if rest else None)
        for fault in rest:
            proxy.inject(fault, method="GET")
        f.seek(WINDOW)
        with pytest.raises(BlobServiceError):
            f.read()
        return len([s for s in proxy.seen[opened:] if s.method == "GET"])


@pytest.fixture
def url(container):  # type: ignore[no-untyped-def]
    container.client.upload_blob("budget.bin", DATA)
    return f"{container.url}/budget.bin"


@pytest.mark.parametrize("max_retries", [0, 1, 3, 5])
def test_broken_bodies_and_error_statuses_share_one_budget(proxy, url, key, max_retries):
    # A truncated body is retried by the read's resume loop, a 503 by the retry
    # policy; taking turns, each layer alone would allow max_retries of its own.
    faults = [Truncate(after=100), Respond(503)]
    assert failing_read_attempts(proxy, url, key, max_retries, faults) == max_retries + 1


@pytest.mark.parametrize("max_retries", [0, 3])
def test_error_statuses_alone_take_the_same_budget(proxy, url, key, max_retries):
    attempts = failing_read_attempts(proxy, url, key, max_retries, [Respond(503)])
    assert attempts == max_retries + 1


def test_resets_add_at_most_one_resend_of_a_stale_pooled_connection(proxy, url, key):
    # A reset on a connection that served the opening GET looks like one the server
    # closed while idle: the transport resends once on a new connection, which the
    # budget does not count; every later attempt is on a fresh connection.
    attempts = failing_read_attempts(proxy, url, key, 3, [Reset()])
    assert 3 + 1 <= attempts <= 3 + 2
