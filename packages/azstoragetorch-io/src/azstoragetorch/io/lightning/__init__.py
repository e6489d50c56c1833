"""PyTorch Lightning checkpoints on Azure Blob Storage.

:class:`BlobCheckpointIO` saves and loads Lightning checkpoints through
:class:`~azstoragetorch.io.BlobIO`; :class:`BlobModelCheckpoint` is Lightning's
``ModelCheckpoint`` for a ``dirpath`` in Blob Storage.

Needs PyTorch Lightning: ``pip install "azstoragetorch-io[lightning]"``. Importing
this module without it raises ``ModuleNotFoundError`` saying so;
``import azstoragetorch.io`` never imports Lightning.
"""

try:
    import lightning_fabric.plugins.io.checkpoint_io  # noqa: F401
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "azstoragetorch.io.lightning needs PyTorch Lightning, which is not installed "
        f'({error}). Install it with: pip install "azstoragetorch-io[lightning]"',
        name=error.name,
    ) from error

from azstoragetorch.io.lightning._checkpoint_io import BlobCheckpointIO
from azstoragetorch.io.lightning._model_checkpoint import BlobModelCheckpoint

__all__ = ["BlobCheckpointIO", "BlobModelCheckpoint"]
