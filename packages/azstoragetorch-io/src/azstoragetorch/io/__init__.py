"""Checkpoint I/O for Azure Blob Storage: :class:`BlobIO`, a file object for blobs.

Importing this package needs neither torch nor azure-identity.
"""

from azstoragetorch.io._blob_io import BlobIO

__all__ = ["BlobIO"]
