"""Moving files between a local disk and blobs: upload, download and list.

The same URLs and credentials as the rest of azstoragetorch; a connection string
is turned into both by :class:`azstoragetorch.credentials.ConnectionString`::

    import tempfile
    from azstoragetorch.io import transfer

    url = "https://<account>.blob.core.windows.net/<container>/cats/"
    local = tempfile.mkdtemp()
    summary = transfer.download(url, local)        # every blob under cats/
    print(len(summary.transferred), "files", summary.failed)
    transfer.upload(local, url)                    # nothing changed: only lists

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
