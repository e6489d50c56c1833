"""Lightning's Trainer checkpointing to Azurite through BlobCheckpointIO, on CPU."""

from __future__ import annotations

import datetime

import pytest
import torch
from _tiny import BATCHES, TinyModel, trainer
from azure.core.credentials import AzureSasCredential
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.plugins.io import AsyncCheckpointIO

from azstoragetorch.exceptions import BlobNotFoundError, FatalBlobIOWriteError
from azstoragetorch.io import BlobIO
from azstoragetorch.io.lightning import BlobCheckpointIO, BlobModelCheckpoint

pytestmark = [
    pytest.mark.timeout(120),
    # Lightning's own advice (dataloader workers, deprecations it calls inside torch)
    # is not about our code.
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


def names(container):
    return sorted(blob.name for blob in container.client.list_blobs())


def load(url, key):
    with BlobIO(url, "rb", credential=key) as f:
        return torch.load(f, weights_only=False)


def top_two(dirpath):
    return BlobModelCheckpoint(dirpath=dirpath, save_top_k=2, monitor="val_loss", save_last=True)


@pytest.fixture
def fitted(container, key):
    """Five epochs with top-2 and last checkpoints in <container>/run1."""
    dirpath = f"{container.url}/run1"
    callback = top_two(dirpath)
    trainer(BlobCheckpointIO(credential=key), callbacks=[callback]).fit(TinyModel())
    return dirpath, callback


def test_fit_leaves_exactly_the_top_two_and_last_checkpoints(container, key, fitted):
    dirpath, callback = fitted
    # The validation loss falls every epoch: the best two are the last two epochs.
    assert names(container) == [
        "run1/epoch=3-step=16.ckpt",
        "run1/epoch=4-step=20.ckpt",
        "run1/last.ckpt",
    ]
    assert callback.best_model_path == f"{dirpath}/epoch=4-step=20.ckpt"
    for name, epoch, step in [
        ("epoch=3-step=16", 3, 16),
        ("epoch=4-step=20", 4, 20),
        ("last", 4, 20),
    ]:
        checkpoint = load(f"{dirpath}/{name}.ckpt", key)
        assert checkpoint["epoch"] == epoch
        assert checkpoint["global_step"] == step
        assert set(checkpoint["state_dict"]) == {"layer.weight", "layer.bias"}


class RecordStart(Callback):
    def on_train_start(self, trainer, pl_module):
        self.start = (trainer.current_epoch, trainer.global_step)


def test_fit_resumes_from_a_blob_at_the_right_epoch_and_step(container, key, fitted):
    dirpath, _ = fitted
    record = RecordStart()
    resumed = trainer(
        BlobCheckpointIO(credential=key), max_epochs=7, callbacks=[record, top_two(dirpath)]
    )
    resumed.fit(TinyModel(), ckpt_path=f"{dirpath}/last.ckpt")
    assert record.start == (5, 5 * BATCHES)
    assert resumed.global_step == 7 * BATCHES
    assert load(f"{dirpath}/last.ckpt", key)["global_step"] == 7 * BATCHES
    assert names(container) == [
        "run1/epoch=5-step=24.ckpt",
        "run1/epoch=6-step=28.ckpt",
        "run1/last.ckpt",
    ]


def test_save_checkpoint_and_validate_from_a_blob(container, key):
    model = TinyModel()
    run = trainer(BlobCheckpointIO(credential=key), max_epochs=1, enable_checkpointing=False)
    run.fit(model)
    url = f"{container.url}/manual/model.ckpt"
    run.save_checkpoint(url)
    assert names(container) == ["manual/model.ckpt"]
    (metrics,) = trainer(BlobCheckpointIO(credential=key)).validate(TinyModel(), ckpt_path=url)
    (expected,) = run.validate(model)
    assert metrics["val_loss"] == pytest.approx(expected["val_loss"])


def test_async_checkpoint_io_around_the_plugin_saves_in_the_background(container, key):
    plugin = AsyncCheckpointIO(BlobCheckpointIO(credential=key))
    trainer(plugin, callbacks=[top_two(f"{container.url}/run1")]).fit(TinyModel())
    assert names(container) == [
        "run1/epoch=3-step=16.ckpt",
        "run1/epoch=4-step=20.ckpt",
        "run1/last.ckpt",
    ]


def read_only_sas(container, azurite):
    return generate_container_sas(
        azurite.account_name,
        container.name,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )


def test_a_failed_background_save_surfaces_and_is_never_silent(container, azurite):
    plugin = AsyncCheckpointIO(
        BlobCheckpointIO(credential=AzureSasCredential(read_only_sas(container, azurite)))
    )
    run = trainer(plugin, max_epochs=2, callbacks=[top_two(f"{container.url}/run1")])
    with pytest.raises(FatalBlobIOWriteError) as caught:
        run.fit(TinyModel())
    assert isinstance(caught.value.underlying_exception, PermissionError)
    assert "sig=" not in str(caught.value)
    assert names(container) == []


class BreakTheNextSave(Callback):
    """Puts a value that cannot be pickled into the checkpoint being saved."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["broken"] = lambda: None


def test_a_save_interrupted_by_an_exception_keeps_the_previous_checkpoint(container, key):
    model = TinyModel()
    run = trainer(BlobCheckpointIO(credential=key), max_epochs=1, enable_checkpointing=False)
    run.fit(model)
    url = f"{container.url}/manual/model.ckpt"
    run.save_checkpoint(url)
    before = container.client.download_blob("manual/model.ckpt").readall()
    breaking = trainer(
        BlobCheckpointIO(credential=key),
        max_epochs=2,
        enable_checkpointing=False,
        callbacks=[BreakTheNextSave()],
    )
    breaking.fit(model, ckpt_path=url)
    with pytest.raises(AttributeError, match="pickle"):
        breaking.save_checkpoint(url)
    assert container.client.download_blob("manual/model.ckpt").readall() == before


@pytest.mark.parametrize(
    "path", ["/tmp/run1/last.ckpt", "s3://bucket/run1/last.ckpt", "relative/last.ckpt"]
)
def test_a_path_that_is_not_a_blob_url_is_refused(path, key):
    plugin = BlobCheckpointIO(credential=key)
    for call in (
        lambda: plugin.save_checkpoint({"a": 1}, path),
        lambda: plugin.load_checkpoint(path),
        lambda: plugin.remove_checkpoint(path),
    ):
        with pytest.raises(ValueError, match="BlobCheckpointIO saves and loads blobs only"):
            call()


def test_a_sas_in_the_dirpath_is_refused_without_showing_it(container, key):
    plugin = BlobCheckpointIO(credential=key)
    with pytest.raises(ValueError, match="do not put a SAS in ModelCheckpoint's dirpath") as caught:
        plugin.save_checkpoint({"a": 1}, f"{container.url}/run1?sv=1&sig=SECRET/last.ckpt")
    assert "SECRET" not in str(caught.value)


def test_ckpt_path_naming_a_missing_blob_raises_file_not_found_naming_it(container, key):
    url = f"{container.url}/run1/missing.ckpt"
    with pytest.raises(FileNotFoundError, match=r"missing\.ckpt") as caught:
        trainer(BlobCheckpointIO(credential=key)).fit(TinyModel(), ckpt_path=url)
    assert isinstance(caught.value, BlobNotFoundError)


def test_blob_model_checkpoint_without_the_plugin_says_what_to_do(container):
    from pytorch_lightning.plugins.io import TorchCheckpointIO

    callback = top_two(f"{container.url}/run1")
    with pytest.raises(ValueError, match=r"plugins=\[BlobCheckpointIO"):
        trainer(TorchCheckpointIO(), callbacks=[callback]).fit(TinyModel())
