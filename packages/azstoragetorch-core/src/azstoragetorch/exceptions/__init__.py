"""Exceptions raised by azstoragetorch.

Every exception the library raises on its own account derives from
:class:`AZStorageTorchError`. Failures reported by the storage service are
translated in one place into the :class:`BlobServiceError` family, which also
derives from the built-in and azure-core types users already catch:

.. code-block:: text

    Exception
     +-- AZStorageTorchError
          +-- ClientRequestIdMismatchError
          +-- FatalBlobIOWriteError
          +-- CheckpointExistsError         (FileExistsError)
          +-- CheckpointMetadataError       (ValueError)
          +-- BlobServiceError              (azure.core.exceptions.HttpResponseError)
               +-- BlobNotFoundError        (FileNotFoundError,
               |                             azure.core.exceptions.ResourceNotFoundError)
               +-- BlobPermissionError      (PermissionError,
               |                             azure.core.exceptions.ClientAuthenticationError)
               +-- BlobModifiedError        (azure.core.exceptions.ResourceModifiedError)

Invalid arguments raise the built-in ``ValueError`` or ``TypeError``; file
operations that a ``BlobIO`` mode does not allow raise ``io.UnsupportedOperation``.

No message of these exceptions contains a SAS signature, an account key or a token:
blobs are named by their URL without its query string.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

__all__ = [
    "AZStorageTorchError",
    "BlobModifiedError",
    "BlobNotFoundError",
    "BlobPermissionError",
    "BlobServiceError",
    "CheckpointExistsError",
    "CheckpointMetadataError",
    "ClientRequestIdMismatchError",
    "FatalBlobIOWriteError",
]


class AZStorageTorchError(Exception):
    """Base class for exceptions raised by azstoragetorch."""


class ClientRequestIdMismatchError(AZStorageTorchError):
    """A response answered a different request than the one that was sent.

    Every request carries a client request ID that the service echoes back. A
    mismatch means the response belongs to another request, as when one connection
    is used by two processes. azstoragetorch gives each process its own connections,
    so reading a dataset in the main process, in DataLoader workers, or in both
    never raises this. If it happens, it is a bug: report the three IDs below.

    :param request_client_id: The client request ID sent with the request.
    :param response_client_id: The client request ID found in the response.
    :param service_request_id: The service's own ID for the response.
    """

    def __init__(
        self, request_client_id: str, response_client_id: str, service_request_id: str
    ) -> None:
        super().__init__(request_client_id, response_client_id, service_request_id)
        self.request_client_id = request_client_id
        self.response_client_id = response_client_id
        self.service_request_id = service_request_id

    def __str__(self) -> str:
        return (
            f"The response's client request ID {self.response_client_id!r} does not match "
            f"the ID {self.request_client_id!r} of the request that was sent (service "
            f"request ID {self.service_request_id!r}). This is a bug in azstoragetorch "
            "or in the connection to the service: please report these three IDs."
        )


class FatalBlobIOWriteError(AZStorageTorchError):
    """Writing through a ``BlobIO`` failed for good.

    Once raised, nothing written through that ``BlobIO`` object will ever be
    committed, and every further ``write()``, ``flush()`` or ``close()`` raises this
    error again. A blob that already existed at the URL is left as it was. To retry,
    open a new ``BlobIO`` and write all the data again.

    :param underlying_exception: The error that made the write fail; also available
        as ``__cause__``.
    """

    def __init__(self, underlying_exception: BaseException) -> None:
        super().__init__(underlying_exception)
        self.underlying_exception = underlying_exception
        self.__cause__ = underlying_exception

    def __str__(self) -> str:
        return (
            "Writing to the blob failed and nothing written through this BlobIO will be "
            "committed; open a new BlobIO and write all the data again. Cause: "
            f"{type(self.underlying_exception).__name__}: {self.underlying_exception}"
        )


class CheckpointExistsError(AZStorageTorchError, FileExistsError):
    """A distributed checkpoint already exists where a new one was to be saved.

    Raised by ``azstoragetorch.io.dcp.BlobStorageWriter`` (created without
    ``overwrite=True``) before anything is uploaded, or, when another save committed
    a checkpoint at the same location while this one ran, instead of committing;
    the existing checkpoint is left as it was. Catch it as ``FileExistsError`` too.
    """


class CheckpointMetadataError(AZStorageTorchError, ValueError):
    """A checkpoint's metadata blob is not one that can be loaded.

    Raised by ``azstoragetorch.io.dcp.BlobStorageReader`` when the ``.metadata`` blob
    is damaged or was not written by ``BlobStorageWriter``. The message names the blob.
    """


class BlobServiceError(AZStorageTorchError, HttpResponseError):
    """The storage service refused a request, after any retries.

    :param message: What failed, naming the blob or container (never a secret).
    :param status_code: The HTTP status of the service's response, if one arrived.
    :param error_code: The service's error code (``x-ms-error-code``), such as
        ``"BlobNotFound"`` or ``"AuthorizationPermissionMismatch"``.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, error_code: str | None = None
    ) -> None:
        HttpResponseError.__init__(self, message=message)
        self.status_code = status_code
        self.error_code = error_code

    def __str__(self) -> str:
        return str(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the keyword-only attributes when the error crosses a process boundary
        # (DataLoader workers, multiprocessing pools).
        return (
            _rebuild_service_error,
            (type(self), self.message, self.status_code, self.error_code),
        )


def _rebuild_service_error(
    cls: type[BlobServiceError], message: str, status_code: int | None, error_code: str | None
) -> BlobServiceError:
    return cls(message, status_code=status_code, error_code=error_code)


class BlobNotFoundError(BlobServiceError, FileNotFoundError, ResourceNotFoundError):
    """The blob, or the container holding it, does not exist.

    Catch it as ``FileNotFoundError`` or as azure-core's ``ResourceNotFoundError``;
    ``error_code`` tells a missing blob (``"BlobNotFound"``) from a missing container
    (``"ContainerNotFound"``).
    """


class BlobPermissionError(BlobServiceError, PermissionError, ClientAuthenticationError):
    """The credential may not do what was asked (HTTP 401 or 403).

    Catch it as ``PermissionError`` or as azure-core's ``ClientAuthenticationError``.
    Check that the credential has the needed role (for example *Storage Blob Data
    Reader* to read, *Contributor* to write) or that a SAS grants the needed
    permissions and has not expired.
    """


class BlobModifiedError(BlobServiceError, ResourceModifiedError):
    """The blob changed while it was being read.

    A ``BlobIO`` reads one version of a blob: every request is conditional on the
    ETag seen first. If another writer replaces the blob meanwhile, reading stops
    with this error instead of returning bytes of two versions. Open a new ``BlobIO``
    to read the new version.
    """
