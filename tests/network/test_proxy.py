"""Everything through a real forward proxy (proxy.py), over http and https (CONNECT).

The proxy asks for basic auth; its credentials are in the proxy URL, as users set
them in ``HTTPS_PROXY``. Each test checks in the proxy's own log that the traffic
really went through it.
"""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
import torch
import torch.multiprocessing
from _proxy_children import save_and_load
from _routes import fresh_transport
from torch.utils.data import DataLoader

from azstoragetorch.datasets import BlobDataset, IterableBlobDataset
from azstoragetorch.exceptions import BlobServiceError
from azstoragetorch.io import BlobIO
from azstoragetorch.options import ClientOptions

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def went_through(proxy, target) -> bool:  # type: ignore[no-untyped-def]
    # proxy.py logs a connection's request when the connection ends: end ours, then
    # give the proxy a moment to write its line.
    fresh_transport()
    deadline = time.monotonic() + 10
    while not proxy.lines_for(target.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(proxy.lines_for(target.port))


def test_blob_io_saves_and_loads_through_the_proxy(target, proxied):
    url = f"{target.url}/model.pt"
    state = {"w": torch.arange(100_000, dtype=torch.float32)}
    with BlobIO(url, "wb", credential=target.credential) as f:
        torch.save(state, f)
    with BlobIO(url, "rb", credential=target.credential) as f:
        loaded = torch.load(f, weights_only=True)
    assert torch.equal(loaded["w"], state["w"])
    assert went_through(proxied, target)
    if target.scheme == "https":  # a tunnel: the proxy saw CONNECT, never the paths
        assert all("model.pt" not in line for line in proxied.lines_for(target.port))


def name_and_size(blob):  # type: ignore[no-untyped-def]
    with blob.reader() as f:
        return blob.blob_name, len(f.read())


@pytest.mark.parametrize("dataset_cls", [BlobDataset, IterableBlobDataset])
def test_both_datasets_with_two_workers_through_the_proxy(target, proxied, dataset_cls):
    names = [f"d/{index}" for index in range(6)]
    for index, name in enumerate(names):
        with BlobIO(f"{target.url}/{name}", "wb", credential=target.credential) as f:
            f.write(b"x" * (index + 1))
    dataset = dataset_cls.from_container_url(
        target.url, prefix="d/", credential=target.credential, transform=name_and_size
    )
    loader = DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context="fork")
    samples = sorted(tuple(sample) for sample in loader)  # the loader turns tuples into lists
    assert samples == [(name, index + 1) for index, name in enumerate(names)]
    assert went_through(proxied, target)


def test_a_distributed_checkpoint_on_two_ranks_through_the_proxy(target, proxied, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"{target.url}/ckpt"
    torch.multiprocessing.spawn(
        save_and_load,
        args=(2, port, url, list(target.make_credential), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert reports == [{"equal": True, "step": 3}] * 2
    assert went_through(proxied, target)


def test_no_proxy_sends_straight_to_the_host(target, proxied, monkeypatch):
    # The proxy variables name a port where nothing listens: only a request that
    # honours NO_PROXY can succeed.
    monkeypatch.setenv("HTTP_PROXY", "http://user:pw@127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw@127.0.0.1:9")
    fast = ClientOptions(max_retries=0)
    with pytest.raises(BlobServiceError, match=r"through the proxy 127\.0\.0\.1:9"):
        BlobIO(f"{target.url}/direct.bin", "rb", credential=target.credential, options=fast)
    fresh_transport()
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    with BlobIO(f"{target.url}/direct.bin", "wb", credential=target.credential) as f:
        f.write(b"direct")
    with BlobIO(f"{target.url}/direct.bin", "rb", credential=target.credential) as f:
        assert f.read() == b"direct"


def test_proxy_credentials_never_show(target, proxied, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"{target.url}/secret.bin"
    with BlobIO(url, "wb", credential=target.credential) as f:
        f.write(b"data")
        shown = [repr(f)]
    # A wrong password: the proxy refuses the connection (HTTP 407).
    wrong = "wrong-pw-0123"
    monkeypatch.setenv("HTTP_PROXY", proxied.url(wrong))
    monkeypatch.setenv("HTTPS_PROXY", proxied.url(wrong))
    fresh_transport()
    with pytest.raises(BlobServiceError) as caught:
        BlobIO(url, "rb", credential=target.credential, options=ClientOptions(max_retries=0))
    error: BaseException | None = caught.value
    while error is not None:
        shown += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    shown += [record.getMessage() for record in caplog.records]
    assert "407" in str(caught.value)
    for secret in (proxied.password, wrong):
        assert all(secret not in text for text in shown), secret
