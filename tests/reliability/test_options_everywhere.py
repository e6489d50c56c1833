"""``options=`` is taken wherever ``credential=`` is, checked, and reaches the requests.

Each entry point gets a ``ClientOptions`` with one retry and tiny backoffs; the fault
proxy answers every request of one kind with 503, so exactly two attempts of it
(the first and one retry) reach the proxy. With the defaults there would be six.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from _fault_proxy import Respond

from azstoragetorch.exceptions import BlobServiceError, FatalBlobIOWriteError
from azstoragetorch.io import (
    BackgroundSaver,
    delete_checkpoint,
    list_checkpoints,
    prune_checkpoints,
    transfer,
)
from azstoragetorch.io.lightning import BlobCheckpointIO
from azstoragetorch.io.lightning._filesystem import BlobFileSystem
from azstoragetorch.options import ClientOptions

pytestmark = [pytest.mark.usefixtures("no_leaks"), pytest.mark.timeout(60)]

ONE_RETRY = ClientOptions(max_retries=1, retry_backoff=0.01, retry_backoff_max=0.02)
URL = "https://account.blob.core.windows.net/container/run1"
NOT_OPTIONS = {"max_retries": 0}  # a mapping is not a ClientOptions


def _bad(call: Callable[[], object]) -> None:
    with pytest.raises(
        TypeError, match=r"options must be an azstoragetorch\.options\.ClientOptions"
    ):
        call()


# -- a wrong type is refused at once, before any request ------------------------------


def test_background_saver_refuses_other_options() -> None:
    _bad(lambda: BackgroundSaver(options=NOT_OPTIONS))  # type: ignore[arg-type]


def test_housekeeping_refuses_other_options() -> None:
    _bad(lambda: list_checkpoints(URL, credential=False, options=NOT_OPTIONS))  # type: ignore[arg-type]
    _bad(lambda: delete_checkpoint(URL, credential=False, options=NOT_OPTIONS))  # type: ignore[arg-type]
    _bad(
        lambda: prune_checkpoints(URL, keep_last=1, credential=False, options=NOT_OPTIONS)  # type: ignore[arg-type]
    )


def test_lightning_plugin_refuses_other_options() -> None:
    _bad(lambda: BlobCheckpointIO(options=NOT_OPTIONS))  # type: ignore[arg-type]


def test_transfers_refuse_other_options(tmp_path: Path) -> None:
    _bad(lambda: transfer.upload(tmp_path, URL, credential=False, options=NOT_OPTIONS))  # type: ignore[arg-type]
    _bad(lambda: transfer.download(URL, tmp_path, credential=False, options=NOT_OPTIONS))  # type: ignore[arg-type]
    # Refused when called, not when the iterator first advances.
    _bad(lambda: transfer.list(URL, credential=False, options=NOT_OPTIONS))  # type: ignore[arg-type]


# -- the options reach the requests ------------------------------------------------


def _attempts(proxy: Any, method: str, since: int = 0) -> int:
    return len([s for s in proxy.seen[since:] if s.method == method and s.fault])


@pytest.fixture
def remote(proxy: Any, container: Any) -> str:
    """The test container's URL, through the fault proxy."""
    return str(proxy.url(container.url))


def test_background_saver_sends_with_its_options(proxy, remote, key) -> None:  # type: ignore[no-untyped-def]
    proxy.inject(Respond(503), method="PUT")
    with BackgroundSaver(credential=key, options=ONE_RETRY) as saver:
        handle = saver.save({"w": torch.ones(4)}, f"{remote}/step-1.pt")
        with pytest.raises(FatalBlobIOWriteError):
            handle.result(30)
        with pytest.raises(FatalBlobIOWriteError):
            saver.close()
    assert _attempts(proxy, "PUT") == 2


def test_housekeeping_lists_and_deletes_with_its_options(proxy, remote, key, container) -> None:  # type: ignore[no-untyped-def]
    container.client.upload_blob("run1/step-1.pt", b"x")
    container.client.upload_blob("run1/step-2.pt", b"y")
    proxy.inject(Respond(503), method="GET")
    with pytest.raises(BlobServiceError):
        list_checkpoints(f"{remote}/run1", credential=key, options=ONE_RETRY)
    assert _attempts(proxy, "GET") == 2
    with pytest.raises(BlobServiceError):
        prune_checkpoints(f"{remote}/run1", keep_last=1, credential=key, options=ONE_RETRY)
    assert _attempts(proxy, "GET") == 4
    proxy.clear()
    proxy.inject(Respond(503), method="DELETE")
    with pytest.raises(BlobServiceError):
        delete_checkpoint(f"{remote}/run1/step-1.pt", credential=key, options=ONE_RETRY)
    assert _attempts(proxy, "DELETE") == 2


def test_lightning_plugin_and_its_listings_use_its_options(proxy, remote, key) -> None:  # type: ignore[no-untyped-def]
    plugin = BlobCheckpointIO(credential=key, options=ONE_RETRY)
    assert plugin.options is ONE_RETRY
    proxy.inject(Respond(503), method="PUT")
    with pytest.raises(FatalBlobIOWriteError):
        plugin.save_checkpoint({"w": torch.ones(2)}, f"{remote}/epoch=0.ckpt")
    assert _attempts(proxy, "PUT") == 2
    # BlobModelCheckpoint builds its filesystem from the plugin's credential and options.
    proxy.clear()
    proxy.inject(Respond(503), method="GET")
    fs = BlobFileSystem(plugin.credential, plugin.options)
    with pytest.raises(BlobServiceError):
        fs.ls(remote)
    assert _attempts(proxy, "GET") == 2


def test_upload_sends_with_its_options(proxy, remote, key, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.bin").write_bytes(b"a" * 100)
    proxy.inject(Respond(503), method="PUT")
    summary = transfer.upload(tmp_path, f"{remote}/up/", credential=key, options=ONE_RETRY)
    assert [f.destination.rsplit("/", 1)[-1] for f in summary.failed] == ["a.bin"]
    assert _attempts(proxy, "PUT") == 2


def test_upload_cuts_large_files_in_the_block_size_of_its_options(proxy, remote, key, tmp_path):  # type: ignore[no-untyped-def]
    # Larger than the whole-file limit (8 MiB), so it goes up in blocks: 4 of 2.5 MiB.
    data = bytes(range(256)) * (40 * 1024)  # 10 MiB
    (tmp_path / "big.bin").write_bytes(data)
    options = ClientOptions(block_size=2560 * 1024)
    summary = transfer.upload(
        tmp_path / "big.bin", f"{remote}/big.bin", credential=key, options=options
    )
    assert not summary.failed
    blocks = [s for s in proxy.seen if s.method == "PUT" and "comp=block&" in s.query + "&"]
    assert len(blocks) == 4


def test_download_and_list_send_with_their_options(proxy, remote, key, container, tmp_path):  # type: ignore[no-untyped-def]
    container.client.upload_blob("down/a.bin", b"a" * 100)
    proxy.inject(Respond(503), method="GET")
    with pytest.raises(BlobServiceError):
        transfer.download(f"{remote}/down/", tmp_path, credential=key, options=ONE_RETRY)
    assert _attempts(proxy, "GET") == 2
    entries = transfer.list(f"{remote}/down/", credential=key, options=ONE_RETRY)
    with pytest.raises(BlobServiceError):
        list(entries)
    assert _attempts(proxy, "GET") == 4
