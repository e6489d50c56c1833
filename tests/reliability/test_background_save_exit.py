"""A process that ends with a background save in flight: killed, nothing is committed;
exiting normally, the save is waited for and committed whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from _fault_proxy import Before, Stall

from azstoragetorch.io import BlobIO

pytestmark = [pytest.mark.usefixtures("no_leaks"), pytest.mark.timeout(120)]

NAME = "run/ckpt.pt"
# The child starts one background save and leaves its main module at once, with the
# save in flight: no close(), no wait.
CHILD = """
import sys
import torch
from azure.core.credentials import AzureNamedKeyCredential
from azstoragetorch.io import BackgroundSaver

url, account, key = sys.argv[1:4]
saver = BackgroundSaver(credential=AzureNamedKeyCredential(account, key))
saver.save({"w": torch.full((100_000,), 2.0)}, url)
print("saving", flush=True)
"""


def start_child(url, azurite):
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, azurite.account_name, azurite.account_key],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


def old_checkpoint(container, key):
    url = f"{container.url}/{NAME}"
    with BlobIO(url, "wb", credential=key) as f:
        torch.save({"w": torch.ones(3)}, f)
    return container.client.download_blob(NAME).readall()


def load(container):
    import io

    return torch.load(io.BytesIO(container.client.download_blob(NAME).readall()))


def test_a_child_killed_mid_upload_commits_nothing(container, azurite, key, proxy):
    before = old_checkpoint(container, key)
    proxy.inject(Stall(60), method="PUT", path=NAME)  # the upload never gets through
    child = start_child(proxy.url(f"{container.url}/{NAME}"), azurite)
    try:
        assert child.stdout.readline().strip() == "saving"
        deadline = time.monotonic() + 30
        while not any(s.method == "PUT" for s in proxy.seen) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(s.method == "PUT" for s in proxy.seen), "the upload never started"
        # The save is in flight and the child is still alive: it waits for it at exit.
        assert child.poll() is None
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert container.client.download_blob(NAME).readall() == before
    assert torch.equal(load(container)["w"], torch.ones(3))


def test_a_child_that_exits_with_a_save_in_flight_waits_and_commits_it(
    container, azurite, key, proxy
):
    old_checkpoint(container, key)
    # Hold the upload back a second, so the child reaches its exit first.
    proxy.inject(Before(lambda: time.sleep(1.0)), method="PUT", path=NAME)
    child = start_child(proxy.url(f"{container.url}/{NAME}"), azurite)
    try:
        output, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0
    assert output.strip() == "saving"
    assert proxy.faults_fired >= 1
    assert torch.equal(load(container)["w"], torch.full((100_000,), 2.0))
