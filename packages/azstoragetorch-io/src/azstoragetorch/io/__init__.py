"""Checkpoint I/O for Azure Blob Storage: :class:`BlobIO`, a file object for blobs.

Also here: :class:`BackgroundSaver`, which saves state dicts while training goes on,
and the checkpoint housekeeping functions :func:`list_checkpoints`,
:func:`delete_checkpoint` and :func:`prune_checkpoints`.

Importing this package needs neither torch nor azure-identity (nor Lightning).
"""

from azstoragetorch.io._background import BackgroundSaver, SaveHandle
from azstoragetorch.io._blob_io import BlobIO
from azstoragetorch.io._housekeeping import (
    CheckpointInfo,
    delete_checkpoint,
    list_checkpoints,
    prune_checkpoints,
)

__all__ = [
    "BackgroundSaver",
    "BlobIO",
    "CheckpointInfo",
    "SaveHandle",
    "delete_checkpoint",
    "list_checkpoints",
    "prune_checkpoints",
]
