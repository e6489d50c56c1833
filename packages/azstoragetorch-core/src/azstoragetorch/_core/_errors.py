"""The one place where failed requests become azstoragetorch exceptions."""

from __future__ import annotations

from typing import NoReturn

from azure.core.exceptions import AzureError
from azure.core.pipeline.transport import HttpResponse

from azstoragetorch._core._redact import redact, redact_exception_chain
from azstoragetorch.exceptions import (
    BlobModifiedError,
    BlobNotFoundError,
    BlobPermissionError,
    BlobServiceError,
)

__all__ = ["raise_for_response", "raise_transport_error"]

_NOT_FOUND_HINTS = {
    "ContainerNotFound": "the container does not exist",
    "BlobNotFound": "the blob does not exist",
}


def raise_for_response(response: HttpResponse, what: str) -> None:
    """Raise the matching ``BlobServiceError`` if ``response`` is a failure.

    :param what: Names the target for the message, e.g. "blob 'https://…/c/b'"; it
        must come from a URL without its query.
    """
    status = response.status_code
    if status < 400:
        return
    error_code = response.headers.get("x-ms-error-code")
    if status == 404:
        detail = _NOT_FOUND_HINTS.get(error_code or "", "it was not found")
        raise BlobNotFoundError(
            f"Could not access {what}: {detail} (HTTP 404, {error_code or 'no error code'}).",
            status_code=status,
            error_code=error_code,
        )
    if status in (401, 403):
        raise BlobPermissionError(
            f"Not authorised to access {what} (HTTP {status}, {error_code or 'no error code'}). "
            "Check that the credential has the needed role, or that the SAS grants the "
            "needed permissions and has not expired.",
            status_code=status,
            error_code=error_code,
        )
    if status == 412 and error_code == "ConditionNotMet":
        raise BlobModifiedError(
            f"{what[:1].upper()}{what[1:]} was modified while it was being read; open it "
            "again to read the new version (HTTP 412, ConditionNotMet).",
            status_code=status,
            error_code=error_code,
        )
    raise BlobServiceError(
        f"The storage service refused the request for {what} (HTTP {status}, "
        f"{error_code or 'no error code'}): {redact(response.reason or '')}".rstrip(": "),
        status_code=status,
        error_code=error_code,
    )


def raise_transport_error(error: AzureError, what: str) -> NoReturn:
    """Re-raise a transport failure (no response, or a broken one) after retries."""
    redact_exception_chain(error)
    raise BlobServiceError(
        f"The request for {what} failed after retries: {type(error).__name__}: {redact(str(error))}"
    ) from error
