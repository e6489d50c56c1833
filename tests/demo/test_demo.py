"""The demo behind the README's first command: its pieces, and whole runs."""

from __future__ import annotations

import datetime
import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas
from demo import digits, storage, training
from PIL import Image

from azstoragetorch.datasets import BlobDataset

REPO = Path(__file__).resolve().parents[2]


def test_digits_are_28_pixel_greyscale_pngs_repeatable_by_seed():
    first = digits.dataset(30, seed=7)
    assert first == digits.dataset(30, seed=7)
    assert first != digits.dataset(30, seed=8)
    assert [label for label, _ in first[:10]] == list(digits.CLASSES)
    image = Image.open(io.BytesIO(first[0][1]))
    assert (image.format, image.mode, image.size) == ("PNG", "L", (28, 28))


def test_each_class_draws_a_different_shape():
    # With the jitter removed, the ten glyphs must all differ: a class the model
    # cannot tell apart would make the demo's accuracy meaningless.
    class Still(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return (a + b) / 2

    glyphs = {digits.draw(label, Still(0)).tobytes() for label in digits.CLASSES}
    assert len(glyphs) == len(digits.CLASSES)


def test_an_account_url_with_a_sas_keeps_the_sas_for_every_blob():
    location = storage.Location.from_account_url(
        "https://acct.blob.core.windows.net/?sv=2025-01-05&sig=abc", "box", object(), "there"
    )
    assert location.container_url == "https://acct.blob.core.windows.net/box"
    assert location.credential is None
    assert location.blob_url("digits/train/3/3_1.png") == (
        "https://acct.blob.core.windows.net/box/digits/train/3/3_1.png?sv=2025-01-05&sig=abc"
    )


def test_an_account_url_without_a_sas_uses_the_given_credential():
    credential = object()
    location = storage.Location.from_account_url(
        "https://acct.blob.core.windows.net", "box", credential, "there"
    )
    assert (location.sas, location.credential) == ("", credential)
    assert location.blob_url("a b.png") == "https://acct.blob.core.windows.net/box/a%20b.png"


def test_an_account_url_that_is_not_http_is_refused_with_the_expected_form():
    with pytest.raises(SystemExit, match=r"https://<account>\.blob\.core\.windows\.net"):
        storage.Location.from_account_url("acct.blob.core.windows.net", "box", None, "there")


@pytest.mark.azurite
def test_uploaded_images_train_through_the_decode_transform(azurite, container, key):
    location = storage.Location.from_account_url(
        azurite.blob_endpoint, container.name, key, "Azurite"
    )
    files = [
        (f"d/train/{label}/{label}_{i}.png", data)
        for i, (label, data) in enumerate(digits.dataset(20))
    ]
    assert storage.upload(location, files, progress=False) == sum(len(d) for _, d in files)
    train, test = training.datasets(location.container_url, key, "d/")
    assert (len(train), len(test)) == (20, 0)
    image, label = train[13]
    assert image.shape == (1, 28, 28)
    assert image.dtype == torch.float32
    assert float(image.min()) >= 0.0
    assert 0.5 < float(image.max()) <= 1.0
    # The class is the virtual directory: .../d/train/<class>/<class>_<i>.png
    plain = BlobDataset.from_container_url(location.container_url, prefix="d/", credential=key)
    assert label == int(plain[13]["url"].split("/")[-2])
    assert sorted(train[i][1] for i in range(20)) == sorted(list(range(10)) * 2)
    model = training.make_model()
    before = [parameter.detach().clone() for parameter in model.parameters()]
    epochs = training.train(
        model, torch.optim.SGD(model.parameters(), lr=0.1), train, epochs=1, workers=0
    )
    assert epochs[0].samples == 20
    # The optimizer stepped the model that was trained.
    after = list(model.parameters())
    assert any(not torch.equal(b, a) for b, a in zip(before, after, strict=True))


def _run_demo(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.demo",
            "--images",
            "200",
            "--epochs",
            "1",
            "--no-progress",
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


@pytest.mark.slow
def test_the_demo_runs_end_to_end_on_its_own_azurite():
    result = _run_demo()
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Starting Azurite" in out
    assert "Stopped Azurite" in out
    assert "200 blobs" in out
    assert "listed 160 training and 40 test images" in out
    assert "samples/s" in out
    assert "test accuracy" in out
    assert "40 predictions are identical" in out


@pytest.mark.slow
@pytest.mark.azurite
def test_the_demo_runs_against_an_account_given_by_a_sas_url(azurite):
    sas = generate_account_sas(
        azurite.account_name,
        azurite.account_key,
        ResourceTypes(container=True, object=True),
        AccountSasPermissions(read=True, write=True, list=True, create=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )
    result = _run_demo("--account-url", f"{azurite.blob_endpoint}?{sas}", "--container", "sasdemo")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Starting Azurite" not in out
    assert f"Data lives in {azurite.blob_endpoint}/sasdemo (your storage account" in out
    assert "40 predictions are identical" in out
    sig = dict(part.split("=", 1) for part in sas.split("&"))["sig"]
    assert sig not in out
    assert sig not in result.stderr
