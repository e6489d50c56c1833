"""How a rank's items are dealt into the data blobs it writes in parallel."""

import torch
from torch.distributed.checkpoint.metadata import (
    ChunkStorageMetadata,
    MetadataIndex,
    TensorProperties,
)
from torch.distributed.checkpoint.planner import (
    BytesIOWriteData,
    TensorWriteData,
    WriteItem,
    WriteItemType,
)

from azstoragetorch.io.dcp._writer import _split_by_size


def tensor_item(name: str, numel: int) -> WriteItem:
    size = torch.Size([numel])
    return WriteItem(
        index=MetadataIndex(name),
        type=WriteItemType.TENSOR,
        tensor_data=TensorWriteData(
            chunk=ChunkStorageMetadata(offsets=torch.Size([0]), sizes=size),
            properties=TensorProperties(dtype=torch.float32),
            size=size,
        ),
    )


def bytes_item(name: str, nbytes: int) -> WriteItem:
    return WriteItem(
        index=MetadataIndex(name),
        type=WriteItemType.BYTE_IO,
        bytes_io_data=BytesIOWriteData(nbytes=nbytes),
    )


def names(buckets):
    return [[item.index.fqn for item in bucket] for bucket in buckets]


def test_items_are_balanced_by_bytes_and_keep_their_order_within_a_blob():
    items = [tensor_item("a", 100), tensor_item("b", 300), tensor_item("c", 200)]
    items.append(bytes_item("d", 400))
    # 1200 + 400 bytes against 400 + 800: as even as these sizes allow.
    assert names(_split_by_size(items, 2)) == [["b", "d"], ["a", "c"]]


def test_never_more_blobs_than_items_and_none_for_no_items():
    assert names(_split_by_size([tensor_item("a", 1)], 4)) == [["a"]]
    assert _split_by_size([], 2) == []
