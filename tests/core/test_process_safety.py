"""Connections are never shared between processes."""

import multiprocessing
import os

import pytest
from _children import read_blob_and_report_pool

from azstoragetorch._core import _shared_transport
from azstoragetorch.io import BlobIO


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_child_process_builds_its_own_connection_pool(upload, azurite, key, method):
    url = upload("shared.bin", b"payload")
    with BlobIO(url, "rb", credential=key) as f:  # the parent uses its pool first
        assert f.read() == b"payload"
    context = multiprocessing.get_context(method)
    queue = context.Queue()
    process = context.Process(
        target=read_blob_and_report_pool,
        args=(
            queue,
            url,
            azurite.account_name,
            azurite.account_key,
            id(_shared_transport.shared_transport()),
        ),
    )
    process.start()
    fresh_pool, data = queue.get(timeout=30)
    process.join(timeout=60)
    assert process.exitcode == 0
    assert data == b"payload"
    if method == "fork":
        assert fresh_pool


def test_after_fork_the_child_has_a_new_transport():
    parent = _shared_transport.shared_transport()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, b"1" if _shared_transport.shared_transport() is not parent else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert _shared_transport.shared_transport() is parent
