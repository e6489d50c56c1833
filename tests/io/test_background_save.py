"""BackgroundSaver against Azurite: returns after the snapshot, commits whole or nothing."""

import concurrent.futures
import io
import threading

import pytest
import torch
from _fixtures import download
from azure.core.credentials import AzureSasCredential
from azure.storage.blob import BlobSasPermissions, generate_blob_sas

from azstoragetorch.exceptions import FatalBlobIOWriteError
from azstoragetorch.io import BackgroundSaver, BlobIO

pytestmark = pytest.mark.timeout(60)

ENTERED = threading.Event()
RELEASE = threading.Event()


class Gate:
    """A state-dict value whose pickling, on the save's thread, waits for RELEASE."""

    def __deepcopy__(self, memo):
        return self  # the snapshot keeps it, so that the upload meets it

    def __reduce__(self):
        ENTERED.set()
        assert RELEASE.wait(30)
        return (int, (7,))


@pytest.fixture
def gate():
    ENTERED.clear()
    RELEASE.clear()
    yield Gate()
    RELEASE.set()


def load(url, key, weights_only=True):
    with BlobIO(url, "rb", credential=key) as f:
        return torch.load(f, weights_only=weights_only)


def test_a_saved_state_dict_loads_as_it_was_when_save_returned(blob_url, key):
    model = torch.nn.Linear(8, 4)
    state = {"model": model.state_dict(), "step": 3, "names": ["a", "b"]}
    expected = {name: t.clone() for name, t in model.state_dict().items()}
    with BackgroundSaver(credential=key) as saver:
        handle = saver.save(state, blob_url)
        with torch.no_grad():
            model.weight.add_(100.0)  # training goes on: the save must not see it
        assert handle.result(timeout=30) is None
        assert handle.done()
        assert handle.exception() is None
    loaded = load(blob_url, key)
    assert loaded["step"] == 3
    assert loaded["names"] == ["a", "b"]
    for name, tensor in expected.items():
        assert torch.equal(loaded["model"][name], tensor)


def test_consecutive_saves_reuse_the_last_copy_and_each_blob_holds_its_own_state(container, key):
    weight = torch.zeros(1024)
    state = {"weight": weight, "bias": torch.zeros(3, 2).t(), "step": 0}  # bias: a view
    urls = [f"{container.url}/reuse-{n}.pt" for n in range(3)]
    kept = []
    with BackgroundSaver(credential=key) as saver:
        for n, url in enumerate(urls):
            weight.fill_(float(n))
            state["step"] = n
            saver.save(state, url).result(timeout=30)
            kept.append(saver._spare._free[(torch.float32, (1024,))][0].data_ptr())
        assert kept[0] == kept[1] == kept[2]  # the second and third saves copied into it
    assert saver._spare._free == {}  # close() let the copy go
    for n, url in enumerate(urls):
        loaded = load(url, key)
        assert loaded["step"] == n
        assert torch.equal(loaded["weight"], torch.full((1024,), float(n)))
        assert torch.equal(loaded["bias"], torch.zeros(2, 3))


def test_save_returns_before_the_upload_and_nothing_is_visible_until_the_commit(
    container, blob_url, key, gate
):
    with BackgroundSaver(credential=key) as saver:
        handle = saver.save({"w": torch.ones(4), "gate": gate}, blob_url)
        assert ENTERED.wait(30)
        assert not handle.done()
        assert not container.client.get_blob_client("dir/a b#c+d.pt").exists()
        RELEASE.set()
        handle.result(timeout=30)
    assert load(blob_url, key, weights_only=False)["gate"] == 7  # int(7), from the gate


def test_a_second_save_fails_fast_while_one_runs_with_when_busy_fail(blob_url, key, gate):
    with BackgroundSaver(credential=key, when_busy="fail") as saver:
        first = saver.save({"gate": gate}, blob_url)
        assert ENTERED.wait(30)
        with pytest.raises(RuntimeError, match="still running"):
            saver.save({"w": torch.zeros(1)}, blob_url)
        RELEASE.set()
        first.result(timeout=30)
        saver.save({"w": torch.zeros(1)}, blob_url).result(timeout=30)


def test_a_second_save_waits_for_the_first_by_default(blob_url, key, gate):
    with BackgroundSaver(credential=key) as saver:
        first = saver.save({"gate": gate}, blob_url)
        assert ENTERED.wait(30)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            second = pool.submit(saver.save, {"w": torch.full((2,), 5.0)}, blob_url)
            with pytest.raises(concurrent.futures.TimeoutError):
                second.result(timeout=0.5)
            RELEASE.set()
            second.result(timeout=30).result(timeout=30)
        assert first.done()
    assert torch.equal(load(blob_url, key)["w"], torch.full((2,), 5.0))


def test_a_cancelled_save_commits_nothing_and_keeps_the_previous_blob(
    container, blob_url, key, gate
):
    with BlobIO(blob_url, "wb", credential=key) as f:
        torch.save({"old": torch.ones(1)}, f)
    before = download(container, "dir/a b#c+d.pt")
    with BackgroundSaver(credential=key) as saver:
        handle = saver.save({"gate": gate, "new": torch.zeros(1000)}, blob_url)
        assert ENTERED.wait(30)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            cancelled = pool.submit(handle.cancel)
            threading.Timer(0.3, RELEASE.set).start()
            assert cancelled.result(timeout=30) is True
        with pytest.raises(concurrent.futures.CancelledError):
            handle.result()
    assert download(container, "dir/a b#c+d.pt") == before
    assert handle.cancel() is False or handle.done()


def test_a_failed_save_raises_from_its_handle_and_at_close_and_keeps_the_blob(container, azurite):
    container.client.upload_blob("guarded.pt", b"original")
    sas = generate_blob_sas(
        azurite.account_name,
        container.name,
        "guarded.pt",
        account_key=azurite.account_key,
        permission=BlobSasPermissions(read=True),
        expiry="2099-01-01T00:00:00Z",
    )
    saver = BackgroundSaver(credential=AzureSasCredential(sas))
    handle = saver.save({"w": torch.ones(3)}, f"{container.url}/guarded.pt")
    with pytest.raises(FatalBlobIOWriteError) as caught:
        handle.result(timeout=30)
    assert isinstance(caught.value.underlying_exception, PermissionError)
    assert "sig=" not in str(caught.value)
    with pytest.raises(FatalBlobIOWriteError):
        saver.close()
    assert download(container, "guarded.pt") == b"original"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (torch.nn.Linear(2, 2), r"not a Linear\. Pass its state dict"),
        (torch.ones(2), "not a Tensor"),
        ([("w", torch.ones(1))], "not a list"),
        (io.BytesIO(), "not a BytesIO"),
    ],
)
def test_a_non_state_dict_is_refused_before_anything_runs(value, message, key):
    url = "http://127.0.0.1:1/devstoreaccount1/c/b.pt"  # nothing listens there
    with BackgroundSaver(credential=key) as saver:
        with pytest.raises(TypeError, match=message):
            saver.save(value, url)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_in_flight": 0}, ValueError),
        ({"max_in_flight": -1}, ValueError),
        ({"max_in_flight": 1.5}, TypeError),
        ({"when_busy": "drop"}, ValueError),
    ],
)
def test_bad_saver_settings_are_refused(kwargs, error):
    with pytest.raises(error):
        BackgroundSaver(**kwargs)


@pytest.mark.parametrize("url", ["/tmp/ckpt.pt", "s3://bucket/ckpt.pt", "http://127.0.0.1:1/a/c"])
def test_a_url_that_names_no_blob_is_refused_at_save(url, key):
    with BackgroundSaver(credential=key) as saver:
        with pytest.raises(ValueError):
            saver.save({"w": torch.ones(1)}, url)


def test_a_closed_saver_refuses_new_saves(key, blob_url):
    saver = BackgroundSaver(credential=key)
    saver.close()
    with pytest.raises(ValueError, match="closed"):
        saver.save({"w": torch.ones(1)}, blob_url)
