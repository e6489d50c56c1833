"""The azstoragetorch demo: a dataset into blobs, training from them, a checkpoint back.

    python3 tools/dev.py demo                     # on an Azurite it starts and stops
    python3 tools/dev.py demo --account-url https://<account>.blob.core.windows.net
    python3 tools/dev.py demo --account-url "https://<account>.blob.core.windows.net/?<SAS>"

Steps: draw labelled digit images and upload them as ``<class>/<class>_<i>.png``
under ``digits/train/`` and ``digits/test/`` with a progress bar; train a small CNN
from ``BlobDataset`` through a DataLoader with worker processes; save the model with
``torch.save`` to a ``BlobIO``, load it back and check the reloaded model predicts
exactly the same; print the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import torch

from azstoragetorch.io import BlobIO

from . import digits, storage, training

REPO = Path(__file__).resolve().parents[2]
PREFIX = "digits/"
CHECKPOINT = "checkpoints/digits-cnn.pt"
DEFAULT_CONTAINER = "azstoragetorch-demo"


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 tools/dev.py demo",
        description="Train a small CNN from blobs and checkpoint it to a blob.",
    )
    parser.add_argument(
        "--account-url",
        help="A storage account's blob endpoint, optionally with a SAS query. "
        "Without it, the demo starts a local Azurite and removes it afterwards. "
        "Without a SAS, DefaultAzureCredential authorises the requests.",
    )
    parser.add_argument(
        "--container",
        help=f"Container to use (created if missing; default {DEFAULT_CONTAINER!r} on a "
        "real account, a fresh one on Azurite).",
    )
    parser.add_argument("--images", type=int, default=3000, help="Images to make (default 3000).")
    parser.add_argument("--epochs", type=int, default=2, help="Training epochs (default 2).")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2).")
    parser.add_argument("--seed", type=int, default=0, help="Seed for images and weights.")
    parser.add_argument("--no-progress", action="store_true", help="Hide the upload progress bar.")
    args = parser.parse_args(argv)
    if args.images < 20:
        parser.error("--images must be at least 20 (two of each class for training and test)")
    if args.epochs < 1 or args.workers < 0:
        parser.error("--epochs must be at least 1 and --workers at least 0")
    return args


@contextlib.contextmanager
def _location(args: argparse.Namespace) -> Iterator[storage.Location]:
    if args.account_url:
        yield storage.Location.from_account_url(
            args.account_url, args.container or DEFAULT_CONTAINER, None, "your storage account"
        )
        return
    sys.path.insert(0, str(REPO / "tools"))
    import azurite
    from azure.core.credentials import AzureNamedKeyCredential

    print(f"Starting Azurite {azurite.pinned_version()} (the Azure Storage emulator) ...")
    with azurite.start() as instance:
        key = AzureNamedKeyCredential(instance.account_name, instance.account_key)
        container = args.container or f"demo-{uuid.uuid4().hex[:8]}"
        yield storage.Location.from_account_url(
            instance.blob_endpoint, container, key, f"Azurite on 127.0.0.1:{instance.port}"
        )
    print("Stopped Azurite; its data is gone with it.")


def _files(count: int, seed: int) -> list[tuple[str, bytes]]:
    """Blob names and PNGs: every fifth image of each class goes to the test split."""
    files = []
    for i, (label, data) in enumerate(digits.dataset(count, seed)):
        split = "test" if (i // len(digits.CLASSES)) % 5 == 4 else "train"
        files.append((f"{PREFIX}{split}/{label}/{label}_{i}.png", data))
    return files


def _mb_per_s(size: int, seconds: float) -> str:
    return f"{size / 1e6 / seconds:,.1f} MB/s"


def run(args: argparse.Namespace) -> int:
    """Run every step; return the exit status."""
    torch.manual_seed(args.seed)
    with _location(args) as location:
        created = location.create_container()
        print(
            f"Data lives in {location.container_url} ({location.where}"
            f"{', container created' if created else ''})."
        )

        print(f"\n[1/4] Drawing {args.images:,} digit images ({digits.SIZE}x{digits.SIZE} PNG) ...")
        files = _files(args.images, args.seed)
        print(f"Uploading them as {PREFIX}{{train,test}}/<class>/<class>_<i>.png:")
        started = time.perf_counter()
        sent = storage.upload(location, files, progress=not args.no_progress)
        seconds = time.perf_counter() - started
        print(
            f"  {len(files):,} blobs, {sent / 1e6:.1f} MB in {seconds:.1f} s "
            f"({len(files) / seconds:,.0f} blobs/s)"
        )

        print(
            f"\n[2/4] Training a small CNN from BlobDataset "
            f"(DataLoader, {args.workers} workers, batch 64) ..."
        )
        train_set, test_set = training.datasets(
            location.with_sas(location.container_url), location.credential, PREFIX
        )
        print(f"  listed {len(train_set):,} training and {len(test_set):,} test images")
        model = training.make_model()
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        epochs = training.train(
            model,
            optimizer,
            train_set,
            epochs=args.epochs,
            workers=args.workers,
            report=lambda e: print(
                f"  epoch {e.number}: loss {e.loss:.3f}, {e.samples:,} samples in "
                f"{e.seconds:.1f} s = {e.samples_per_second:,.0f} samples/s"
            ),
        )
        outputs, labels = training.predict(model, test_set, workers=args.workers)
        accuracy = training.accuracy(outputs, labels)
        print(f"  test accuracy: {accuracy:.1%} on {len(labels):,} held-out images")

        print("\n[3/4] Saving the checkpoint with torch.save to a BlobIO ...")
        checkpoint_url = location.blob_url(CHECKPOINT)
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epochs": args.epochs,
        }
        started = time.perf_counter()
        with BlobIO(checkpoint_url, "wb", credential=location.credential) as f:
            torch.save(state, f)
            size = f.tell()
        save_seconds = time.perf_counter() - started
        print(
            f"  {location.container_url}/{CHECKPOINT}: {size / 1e6:.2f} MB in "
            f"{save_seconds * 1000:.0f} ms ({_mb_per_s(size, save_seconds)})"
        )

        print("\n[4/4] Loading it back into a new model with torch.load from a BlobIO ...")
        started = time.perf_counter()
        with BlobIO(checkpoint_url, "rb", credential=location.credential) as f:
            loaded = torch.load(f, weights_only=True)
        load_seconds = time.perf_counter() - started
        restored = training.make_model()
        restored.load_state_dict(loaded["model"])
        restored_outputs, _ = training.predict(restored, test_set, workers=args.workers)
        same = torch.equal(outputs, restored_outputs)
        print(
            f"  loaded in {load_seconds * 1000:.0f} ms ({_mb_per_s(size, load_seconds)}); "
            f"the reloaded model's {len(labels):,} predictions are "
            f"{'identical' if same else 'DIFFERENT'}"
        )

        rate = epochs[-1].samples_per_second
        print("\nSummary")
        print(f"  data:       {location.container_url}/{PREFIX} ({len(files):,} PNG blobs)")
        print(f"  training:   {rate:,.0f} samples/s (last epoch, {args.workers} workers)")
        print(f"  accuracy:   {accuracy:.1%}")
        save_rate, load_rate = _mb_per_s(size, save_seconds), _mb_per_s(size, load_seconds)
        print(f"  checkpoint: save {save_rate}, load {load_rate}")
        if args.account_url:
            print(f"  The blobs stay in {location.container_url}; delete them when done.")
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m tools.demo``."""
    return run(_arguments(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
