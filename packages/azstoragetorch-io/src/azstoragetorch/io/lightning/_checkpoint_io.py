"""``BlobCheckpointIO``: Lightning's checkpoint plugin, saving and loading through BlobIO."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from lightning_fabric.plugins.io.checkpoint_io import CheckpointIO

from azstoragetorch._core._client_factory import options_or_default
from azstoragetorch._core._credentials import Credential
from azstoragetorch._core._url import BlobURL
from azstoragetorch.io._blob_io import BlobIO
from azstoragetorch.io._housekeeping import delete_checkpoint
from azstoragetorch.options import ClientOptions

__all__ = ["BlobCheckpointIO"]


class BlobCheckpointIO(CheckpointIO):
    """A Lightning ``CheckpointIO`` that keeps checkpoints in Azure Blob Storage.

    Pass it to the ``Trainer`` and give blob URLs wherever Lightning takes a
    checkpoint path: ``ModelCheckpoint(dirpath=...)``, ``Trainer.fit(ckpt_path=...)``,
    ``Trainer.save_checkpoint(...)``, ``Trainer.validate(ckpt_path=...)``::

        trainer = Trainer(
            plugins=[BlobCheckpointIO()],
            callbacks=[ModelCheckpoint(dirpath="https://<account>.blob.core.windows.net/<container>/run1")],
        )

    Saving writes through :class:`~azstoragetorch.io.BlobIO`: a checkpoint blob
    changes only when the whole checkpoint is uploaded, so a save that fails or is
    interrupted leaves the previous checkpoint as it was. Removing a checkpoint
    (``ModelCheckpoint``'s ``save_top_k`` pruning) deletes its blob; a blob that is
    already gone is not an error.

    Wrap it in Lightning's ``AsyncCheckpointIO`` to save in a background thread.

    :param credential: As for :class:`~azstoragetorch.io.BlobIO`; ``None`` uses
        ``DefaultAzureCredential``. Give a SAS as ``AzureSasCredential``, not in the
        URL: Lightning builds checkpoint paths by appending file names to the
        ``dirpath``, and shows paths in its logs.
    :param options: Timeouts, retries and transfer sizes for every save, load and
        removal (and :class:`BlobModelCheckpoint`'s listings), as a
        :class:`~azstoragetorch.options.ClientOptions`; ``None`` uses the defaults.
    :raises TypeError: for ``options`` that is not a ``ClientOptions``.
    """

    def __init__(
        self, *, credential: Credential = None, options: ClientOptions | None = None
    ) -> None:
        super().__init__()
        self._options = options_or_default(options)
        self._credential = credential

    def __repr__(self) -> str:
        return f"BlobCheckpointIO(credential={type(self._credential).__name__})"

    @property
    def credential(self) -> Credential:
        """The credential the plugin was created with."""
        return self._credential

    @property
    def options(self) -> ClientOptions:
        """The client options the plugin uses (the defaults if it was given none)."""
        return self._options

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options: Any = None
    ) -> None:
        """Save ``checkpoint`` with ``torch.save`` to the blob at ``path``.

        :raises TypeError: if ``storage_options`` is given (not supported).
        :raises ValueError: if ``path`` is not a blob URL.
        :raises ~azstoragetorch.exceptions.FatalBlobIOWriteError: if the upload fails;
            nothing is committed.
        """
        if storage_options is not None:
            raise TypeError(
                "BlobCheckpointIO does not take storage_options: pass the credential to "
                "BlobCheckpointIO(credential=...) instead."
            )
        url = _blob_url(path)
        with BlobIO(url, "wb", credential=self._credential, options=self._options) as blob:
            torch.save(checkpoint, blob)

    def load_checkpoint(
        self,
        path: str | os.PathLike[str],
        map_location: Callable[..., Any] | str | torch.device | dict[str, str] | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Load the checkpoint at the blob ``path`` with ``torch.load``.

        :raises ValueError: if ``path`` is not a blob URL.
        :raises ~azstoragetorch.exceptions.BlobNotFoundError: (a ``FileNotFoundError``)
            if there is no blob at ``path``; the message names it.
        """
        url = _blob_url(path)
        with BlobIO(url, "rb", credential=self._credential, options=self._options) as blob:
            loaded = torch.load(blob, map_location=map_location, weights_only=weights_only)
        if not isinstance(loaded, dict):
            raise ValueError(
                f"The blob {BlobURL.parse(url).url} is not a Lightning checkpoint: it holds "
                f"a {type(loaded).__name__}, not a dict."
            )
        return loaded

    def remove_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Delete the checkpoint blob at ``path``; nothing happens if it is missing."""
        delete_checkpoint(_blob_url(path), credential=self._credential, options=self._options)


def _blob_url(path: str | os.PathLike[str]) -> str:
    """``path`` as a blob URL, or a ``ValueError`` that says what to give instead."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"A checkpoint path must be a str, not {type(text).__name__}.")
    try:
        url = BlobURL.parse(text)
        url.require_blob()
    except ValueError as error:
        raise ValueError(
            f"BlobCheckpointIO saves and loads blobs only: {error} Give a blob URL such "
            "as https://<account>.blob.core.windows.net/<container>/run1/last.ckpt, as "
            "ModelCheckpoint's dirpath or as ckpt_path."
        ) from None
    if any("/" in piece for piece in url.query):
        # "<dirpath>?<sas>/epoch=1.ckpt": Lightning appended a file name to a URL with
        # a query, which would silently name the wrong blob.
        raise ValueError(
            f"The checkpoint path under {url.url} has a query string before its file "
            "name: do not put a SAS in ModelCheckpoint's dirpath. Pass it as "
            "BlobCheckpointIO(credential=AzureSasCredential(sas)) instead."
        )
    return text
