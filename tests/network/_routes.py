"""Making this process decide its hosts' routes (proxy or not) again."""

from __future__ import annotations

from azstoragetorch._core import _shared_transport


def fresh_transport() -> None:
    """Close and drop this process's transport; the next request builds a new one.

    Whether a host goes through a proxy is decided when the process first contacts
    it, and earlier tests have contacted Azurite directly. Closing also ends our
    idle connections, which is when proxy.py writes their access-log lines.
    """
    transport = _shared_transport._shared.existing()
    if transport is not None:
        transport.close()
    _shared_transport._shared.reset()
