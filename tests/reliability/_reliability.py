"""Settings shared by the reliability tests."""

from __future__ import annotations

import hashlib

from _fault_proxy import Reset, Respond, Stall

from azstoragetorch.options import ClientOptions

# Retries that give up in about a second, and a read timeout the proxy's stalls
# outlast; faults then resolve in well under the test's time bound.
FAST = ClientOptions(
    max_retries=3,
    retry_backoff=0.01,
    retry_backoff_max=0.05,
    read_timeout=0.5,
    connect_timeout=2.0,
)
# Longer than FAST.read_timeout, so a stalled response always times out.
STALL_S = 5.0
# Every fault must end within this, whatever it is: retries exhausted or recovered.
BOUND_S = 20.0
# Setting it (to a number of seconds) opts in to the soak test.
SOAK_ENV = "AZSTORAGETORCH_SOAK_SECONDS"
# Faults that reads and writes alike must ride out: error statuses (with and without
# Retry-After), a reset before any response, and a stall that outlasts the timeout.
TRANSIENT_ANY_REQUEST = {
    "500": Respond(500),
    "500-retry-after": Respond(500, retry_after="1"),
    "503": Respond(503),
    "503-retry-after": Respond(503, retry_after="1"),
    "429": Respond(429),
    "429-retry-after": Respond(429, retry_after="1"),
    "reset-before-response": Reset(),
    "stall-before-response": Stall(STALL_S),
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def name_and_data(blob):  # type: ignore[no-untyped-def]
    """A transform that DataLoader workers import by name: the blob's name and bytes."""
    with blob.reader() as f:
        return blob.blob_name, f.read()


def name_and_size(blob):  # type: ignore[no-untyped-def]
    """A transform that reads nothing: the blob's name and its size from the listing."""
    return blob.blob_name, blob.size
