"""The one place where failed requests become azstoragetorch exceptions."""

from __future__ import annotations

import datetime
from typing import NoReturn

from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.core.pipeline.transport import HttpResponse

from azstoragetorch._core._credentials import UsedCredential
from azstoragetorch._core._redact import redact, redact_exception_chain
from azstoragetorch.exceptions import (
    BlobModifiedError,
    BlobNotFoundError,
    BlobPermissionError,
    BlobServiceError,
)

__all__ = ["raise_credential_error", "raise_for_response", "raise_transport_error"]

_NOT_FOUND_HINTS = {
    "ContainerNotFound": "the container does not exist",
    "BlobNotFound": "the blob does not exist",
}


def raise_for_response(
    response: HttpResponse, what: str, credential: UsedCredential | None = None
) -> None:
    """Raise the matching ``BlobServiceError`` if ``response`` is a failure.

    :param what: Names the target for the message, e.g. "blob 'https://…/c/b'"; it
        must come from a URL without its query.
    :param credential: The credential the request used, named in a permission error
        with what to do about it.
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
        used = f" with {credential.name}" if credential is not None else ""
        raise BlobPermissionError(
            f"Not authorised to access {what}{used} (HTTP {status}, "
            f"{error_code or 'no error code'}). {_permission_hint(error_code, credential)}",
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


# Service error codes that mean the credential was recognised but may not do this.
_LACKS_PERMISSION = frozenset(
    {
        "AuthorizationPermissionMismatch",
        "AuthorizationResourceTypeMismatch",
        "AuthorizationServiceMismatch",
    }
)
_NOT_PERMITTED = _LACKS_PERMISSION | {"AuthorizationFailure"}


def _permission_hint(error_code: str | None, credential: UsedCredential | None) -> str:
    """What to do about a 401/403, from the service's code and the credential used."""
    kind = credential.kind if credential is not None else None
    refused = error_code in _NOT_PERMITTED
    if kind == "sas":
        assert credential is not None
        expiry = credential.sas_expiry
        if expiry is not None and expiry <= datetime.datetime.now(datetime.timezone.utc):
            return f"The SAS expired at {expiry:%Y-%m-%d %H:%M:%S} UTC. Make a new SAS."
        if error_code in _LACKS_PERMISSION:
            return (
                "The SAS does not grant what this needs: reading needs 'r', writing 'c' "
                "and 'w', listing a container 'l'. Make a SAS with those permissions."
            )
        return (
            "The SAS was refused: it is not valid yet, its signature does not match, or "
            "it does not allow this request (check its 'st', 'se' and 'sp'). Make a new SAS."
        )
    if kind == "key":
        return (
            "The account key was refused: check that it is the current key of that "
            "storage account (keys change when they are rotated)."
        )
    if kind == "anonymous":
        return (
            "The container does not allow anonymous access: pass a credential, or put a "
            "SAS in the URL."
        )
    if kind in ("default", "token") and not refused:
        return (
            "The token was refused: it may have expired or be for another tenant. Sign "
            "in again, or check the credential's tenant."
        )
    return (
        "Give the identity a data role on the account or container (Storage Blob Data "
        "Reader to read, Storage Blob Data Contributor to write)."
    )


def raise_credential_error(
    error: ClientAuthenticationError, what: str, credential: UsedCredential
) -> NoReturn:
    """Raise ``BlobPermissionError`` for a credential that produced no token.

    A token credential runs inside the pipeline, before any request is sent; its
    failure is final (the retry policy never retries it), so it is reported at once
    with what to do.
    """
    redact_exception_chain(error)
    if credential.kind == "default":
        # The chain raises once every credential in it was unavailable, or as soon as
        # one that was configured failed; the cause lists each credential tried.
        message = (
            f"DefaultAzureCredential could not get a token to access {what}: no "
            "credential in its chain worked (the cause lists each one tried). Sign in "
            "with 'az login'; or set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
            "AZURE_CLIENT_SECRET (a service principal); or run where a managed identity "
            "is assigned. Otherwise pass credential= or put a SAS in the URL."
        )
    else:
        text = str(error).strip()
        detail = redact(text.splitlines()[0] if text else "")[:300]
        message = (
            f"Getting a token from {credential.name} to access {what} failed: "
            f"{type(error).__name__}: {detail}".rstrip(": ")
            + ". Check that credential's configuration, or pass another credential."
        )
    raise BlobPermissionError(message) from error
