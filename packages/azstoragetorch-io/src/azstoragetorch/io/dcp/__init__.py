"""Distributed checkpoints (``torch.distributed.checkpoint``) in Azure Blob Storage.

:class:`BlobStorageWriter` and :class:`BlobStorageReader` let ``dcp.save``,
``dcp.async_save`` and ``dcp.load`` keep a checkpoint under a prefix of a container::

    import torch
    import torch.distributed.checkpoint as dcp
    from azstoragetorch.io.dcp import BlobStorageReader, BlobStorageWriter

    model = torch.nn.Linear(16, 4)
    url = "https://<account>.blob.core.windows.net/<container>/checkpoints/step-1000"
    dcp.save({"model": model.state_dict()}, storage_writer=BlobStorageWriter(url))

    state_dict = {"model": torch.nn.Linear(16, 4).state_dict()}
    dcp.load(state_dict, storage_reader=BlobStorageReader(url))
    assert torch.equal(state_dict["model"]["weight"], model.weight)

This is the only part of :mod:`azstoragetorch.io` that imports
``torch.distributed.checkpoint``; ``import azstoragetorch.io`` stays free of torch.
"""

from azstoragetorch.io.dcp._reader import BlobStorageReader
from azstoragetorch.io.dcp._writer import BlobStorageWriter

__all__ = ["BlobStorageReader", "BlobStorageWriter"]
