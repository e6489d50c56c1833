"""Moving files between a local disk and blobs: upload, download and list.

The same URLs and credentials as the rest of azstoragetorch; a connection string
is turned into both by :class:`azstoragetorch.credentials.ConnectionString`::

    from azstoragetorch.io import transfer

    url = "https://<account>.blob.core.windows.net/<container>/datasets/digits/"
    summary = transfer.upload("data/digits", url)          # a folder of class folders
    print(summary.transferred[:3], summary.failed)
    transfer.download(url, "/tmp/digits")                   # and back

The ``azstoragetorch`` console script (``azstoragetorch upload``, ``download``,
``ls``) does the same from a shell. This package needs neither torch nor the
datasets, so a serving image with ``azstoragetorch-io`` alone can fetch a model.
"""

from azstoragetorch.io.transfer._download import download
from azstoragetorch.io.transfer._list_blobs import BlobEntry
from azstoragetorch.io.transfer._list_blobs import list_blobs as list
from azstoragetorch.io.transfer._summary import FailedFile, Overwrite, TransferSummary
from azstoragetorch.io.transfer._upload import upload

__all__ = [
    "BlobEntry",
    "FailedFile",
    "Overwrite",
    "TransferSummary",
    "download",
    "list",
    "upload",
]
