"""Functions run in child processes (spawn and forkserver import them by name)."""

from __future__ import annotations

import multiprocessing.queues


def read_blob_and_report_pool(
    queue: multiprocessing.queues.Queue,  # type: ignore[type-arg]
    url: str,
    account: str,
    key: str,
    parent_transport_id: int,
) -> None:
    """Read ``url`` and report whether this process used a pool of its own."""
    from azure.core.credentials import AzureNamedKeyCredential

    from azstoragetorch._core import _shared_transport
    from azstoragetorch.io import BlobIO

    with BlobIO(url, "rb", credential=AzureNamedKeyCredential(account, key)) as f:
        data = f.read()
    queue.put((id(_shared_transport.shared_transport()) != parent_transport_id, data))
