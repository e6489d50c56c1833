"""``BlobModelCheckpoint``: Lightning's ``ModelCheckpoint`` with a blob URL as ``dirpath``."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from azstoragetorch.io.lightning._checkpoint_io import BlobCheckpointIO
from azstoragetorch.io.lightning._filesystem import BlobFileSystem

__all__ = ["BlobModelCheckpoint"]


class BlobModelCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` for a ``dirpath`` in Blob Storage; it takes the same arguments.

    Lightning's ``ModelCheckpoint`` asks a filesystem, chosen from the ``dirpath``'s
    scheme, whether files exist and what a folder holds; for an ``https://`` URL that
    filesystem is plain HTTP, which cannot authenticate to Blob Storage nor list a
    container. This subclass answers those questions with the credential and options
    of the trainer's :class:`BlobCheckpointIO` (which it requires), so the version counter,
    ``save_last`` and ``save_top_k`` pruning work on blobs as on a local folder.
    Checkpoints are saved, loaded and deleted by :class:`BlobCheckpointIO`.
    """

    # ModelCheckpoint assigns ``self._fs`` from the URL's scheme when it is built and
    # set up; the property keeps the blob filesystem in its place.
    @property
    def _fs(self) -> BlobFileSystem:
        blob_fs = self.__dict__.get("_blob_fs")
        if blob_fs is None:
            raise RuntimeError(
                "BlobModelCheckpoint is used before the Trainer set it up: pass it to a "
                "Trainer with plugins=[BlobCheckpointIO(...)]."
            )
        return blob_fs  # type: ignore[no-any-return]

    @_fs.setter
    def _fs(self, value: Any) -> None:
        pass

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        plugin: Any = trainer.strategy.checkpoint_io
        while not isinstance(plugin, BlobCheckpointIO) and hasattr(plugin, "checkpoint_io"):
            plugin = plugin.checkpoint_io  # unwrap AsyncCheckpointIO
        if not isinstance(plugin, BlobCheckpointIO):
            raise ValueError(
                "BlobModelCheckpoint saves through BlobCheckpointIO: create the Trainer "
                f"with plugins=[BlobCheckpointIO(...)] (it has {type(plugin).__name__})."
            )
        self.__dict__["_blob_fs"] = BlobFileSystem(plugin.credential, plugin.options)
        super().setup(trainer, pl_module, stage)
