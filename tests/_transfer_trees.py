"""Fixtures for the transfer tests: local trees and small transfer settings."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from azstoragetorch.io._reader import ReadOptions
from azstoragetorch.io._writer import WriteOptions
from azstoragetorch.io.transfer._settings import TransferSettings

KIB = 1024

# Blocks and ranges of 64 KiB, so a file of a few hundred KiB takes the block path.
SMALL_BLOCKS = TransferSettings(
    whole_file_limit=64 * KIB,
    large_files_at_once=2,
    read_buffer=128 * KIB,
    write=WriteOptions(block_size=64 * KIB, max_buffer=128 * KIB, max_concurrency=2),
    read=ReadOptions(
        read_ahead=64 * KIB, max_read_ahead=64 * KIB, part_size=64 * KIB, min_part=64 * KIB
    ),
)

TREE = {
    "cats/0.png": 1000,
    "cats/1.png": 1500,
    "dogs/0.jpg": 2000,
    "dogs/puppies/0.jpg": 10,
    "labels.csv": 0,
    "notes.txt": 300,
}


def md5_of(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def make_tree(root: Path, files: dict[str, int] = TREE, seed: int = 0) -> dict[str, bytes]:
    """Write ``files`` (relative name: size) under ``root``; return their contents."""
    import random

    rng = random.Random(seed)
    contents = {}
    for name, size in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(size)
        path.write_bytes(data)
        contents[name] = data
    return contents


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by its relative POSIX name."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def blobs(container) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """Every blob of the container, read with the SDK."""
    client = container.client
    return {b.name: client.download_blob(b.name).readall() for b in client.list_blobs()}


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path / "src"
    return root, make_tree(root)
