"""A tiny Lightning model and data for the checkpoint plugin's tests."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

BATCHES = 4  # training batches per epoch, so global step = 4 x epochs


def loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(BATCHES * 8, 4, generator=generator)
    y = x.sum(dim=1, keepdim=True)
    return DataLoader(TensorDataset(x, y), batch_size=8)


class TinyModel(pl.LightningModule):
    """A linear regression whose validation loss falls epoch after epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.SGD(self.parameters(), lr=0.05)

    def train_dataloader(self) -> DataLoader:
        return loader()

    def val_dataloader(self) -> DataLoader:
        return loader()


def trainer(
    plugin: object, max_epochs: int = 5, callbacks: list | None = None, **kwargs
) -> pl.Trainer:  # type: ignore[type-arg]
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=max_epochs,
        plugins=[plugin],
        callbacks=callbacks or [],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **kwargs,
    )
