"""The model, the dataset transform, training and evaluation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from azstoragetorch.datasets import Blob, BlobDataset

from .digits import SIZE


def decode(blob: Blob) -> tuple[torch.Tensor, int]:
    """Dataset transform: the PNG as a 1 x 28 x 28 float tensor, and its class.

    The class is the blob's virtual directory: ``.../<class>/<class>_<i>.png``.
    """
    with blob.reader() as f:
        image = Image.open(f).convert("L")
        pixels = bytearray(image.tobytes())
    tensor = torch.frombuffer(pixels, dtype=torch.uint8).view(1, SIZE, SIZE)
    return tensor.float() / 255.0, int(blob.blob_name.split("/")[-2])


def make_model() -> nn.Module:
    """A small convolutional network for 28 x 28 greyscale digits."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


Digits = BlobDataset[tuple[torch.Tensor, int]]
"""A dataset of (image, class) samples."""


@dataclass(frozen=True)
class Epoch:
    """What one pass over the training data measured."""

    number: int
    samples: int
    seconds: float
    loss: float

    @property
    def samples_per_second(self) -> float:
        """Training throughput, data loading included."""
        return self.samples / self.seconds


def datasets(container_url: str, credential: Any, prefix: str) -> tuple[Digits, Digits]:
    """The training and test datasets, listed from ``<prefix>train/`` and ``<prefix>test/``."""
    train = BlobDataset.from_container_url(
        container_url, prefix=f"{prefix}train/", credential=credential, transform=decode
    )
    test = BlobDataset.from_container_url(
        container_url, prefix=f"{prefix}test/", credential=credential, transform=decode
    )
    return train, test


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    dataset: Digits,
    *,
    epochs: int,
    workers: int,
    batch_size: int = 64,
    report: Callable[[Epoch], None] = lambda epoch: None,
) -> list[Epoch]:
    """Train for ``epochs`` passes, loading through a DataLoader with ``workers`` workers."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    loss_fn = nn.CrossEntropyLoss()
    results = []
    model.train()
    for number in range(1, epochs + 1):
        started = time.perf_counter()
        samples, total_loss = 0, 0.0
        for images, labels in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
            samples += len(labels)
            total_loss += loss.item() * len(labels)
        epoch = Epoch(number, samples, time.perf_counter() - started, total_loss / max(samples, 1))
        report(epoch)
        results.append(epoch)
    return results


def predict(
    model: nn.Module, dataset: Digits, *, workers: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's outputs on every sample of ``dataset`` in order, and the true labels."""
    model.eval()
    outputs, labels = [], []
    with torch.no_grad():
        for images, batch_labels in DataLoader(dataset, batch_size=256, num_workers=workers):
            outputs.append(model(images))
            labels.append(batch_labels)
    return torch.cat(outputs), torch.cat(labels)


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of samples whose highest output is the true class."""
    return float((outputs.argmax(dim=1) == labels).float().mean())
