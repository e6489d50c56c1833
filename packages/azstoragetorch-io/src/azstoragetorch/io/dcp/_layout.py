"""How a checkpoint is laid out under its prefix.

::

    <prefix>/.metadata                      written last, by the coordinator
    <prefix>/<save id>/__<rank>_<n>.distcp  the data, written by each rank

The metadata blob is ``torch.distributed.checkpoint``'s ``Metadata``, pickled. Its
``storage_data`` maps each item to a :class:`StoredItem`: which data blob holds it and
where. Tensors are stored as their raw bytes (C order), so a reader can fetch just the
part of a tensor it needs and hand torch the fetched memory as it is; other items are
stored as the ``torch.save`` bytes the planner produces.

Every save writes its data blobs into a folder of its own (a random save id), so a
save never touches the blobs of an earlier checkpoint at the same prefix: replacing a
checkpoint becomes visible in one step, when the new metadata blob is committed.
"""

from __future__ import annotations

import dataclasses

import torch

__all__ = [
    "LAYOUT_VERSION",
    "METADATA_NAME",
    "TENSOR_ALIGNMENT",
    "StoredItem",
    "data_blob_prefix",
]

METADATA_NAME = ".metadata"
# Recorded as the metadata's ``version``: names this layout, so a later one can be told apart.
LAYOUT_VERSION = "azstoragetorch-blob-1"
# Tensors start at offsets that are multiples of this in their data blob.
TENSOR_ALIGNMENT = 64


# Pickled into every checkpoint's metadata: the module path, the class name and the
# fields must stay readable by later versions.
@dataclasses.dataclass(frozen=True)
class StoredItem:
    """Where one item of a checkpoint is stored.

    :param blob: The data blob's name, relative to the checkpoint's prefix.
    :param offset: The item's first byte in that blob.
    :param length: The item's length in bytes.
    :param dtype: A tensor's element type; ``None`` for an item stored as bytes.
    :param shape: A tensor's shape as stored (the saved chunk's sizes).
    """

    blob: str
    offset: int
    length: int
    dtype: torch.dtype | None = None
    shape: tuple[int, ...] = ()


def data_blob_prefix(save_id: str, rank: int) -> str:
    """The start of the names of the data blobs that ``rank`` writes in one save."""
    return f"{save_id}/__{rank}_"
