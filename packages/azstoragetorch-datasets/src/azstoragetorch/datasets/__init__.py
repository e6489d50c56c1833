"""PyTorch datasets over blobs in Azure Blob Storage.

* :class:`BlobDataset`: map-style; lists a container once, when created.
* :class:`IterableBlobDataset`: iterable-style; lists a container page by page while
  it is iterated and shards samples across DataLoader workers and ranks.
* :class:`Blob`: one blob, as a ``transform`` receives it.

Both datasets are created with ``from_container_url()`` or ``from_blob_urls()``.
"""

from azstoragetorch.datasets._blob import Blob
from azstoragetorch.datasets._iterable import IterableBlobDataset
from azstoragetorch.datasets._map import BlobDataset

__all__ = ["Blob", "BlobDataset", "IterableBlobDataset"]
