"""Pipelines and threads are never inherited across fork."""

import os

from azure.core.credentials import AzureNamedKeyCredential

from azstoragetorch._core._url import BlobURL
from azstoragetorch.datasets import _read_ahead
from azstoragetorch.datasets._dataset_clients import ClientFactory

URL = BlobURL.parse("http://127.0.0.1:1/devstoreaccount1/c/b")


def in_child(check):
    """Run ``check`` in a forked child; returns what it returned (a bool)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, b"1" if check() else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    return os.read(read, 1) == b"1"


def test_a_forked_child_builds_its_own_pipeline():
    clients = ClientFactory(AzureNamedKeyCredential("devstoreaccount1", "a2V5"))
    parent = clients.pipeline(URL)
    assert in_child(lambda: clients.pipeline(URL) is not parent)
    assert clients.pipeline(URL) is parent


def test_a_sas_url_gets_a_pipeline_without_the_credential():
    clients = ClientFactory(AzureNamedKeyCredential("devstoreaccount1", "a2V5"))
    with_sas = BlobURL.parse("http://127.0.0.1:1/devstoreaccount1/c/b?sig=x")
    assert clients.pipeline(with_sas) is not clients.pipeline(URL)


def test_a_forked_child_makes_its_own_thread_pool():
    parent = _read_ahead.executor()
    parent.submit(int).result()  # the parent's pool has a live thread
    assert in_child(
        lambda: (
            _read_ahead.executor() is not parent
            and _read_ahead.executor().submit(int).result() == 0
        )
    )
    assert _read_ahead.executor() is parent
