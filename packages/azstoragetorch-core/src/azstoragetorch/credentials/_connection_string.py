"""Parsing Azure Storage connection strings into an endpoint and a credential."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import urllib.parse
from typing import Literal

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential

__all__ = ["ConnectionString"]

# The emulator's documented, public development account (not a secret).
_DEV_ACCOUNT = "devstoreaccount1"
_DEV_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_DEV_BLOB_PORT = 10000

# Fields a connection string may hold that say nothing about the blob service.
_OTHER_SERVICES = frozenset(
    [
        "queueendpoint",
        "tableendpoint",
        "fileendpoint",
        "dfsendpoint",
        "queuesecondaryendpoint",
        "tablesecondaryendpoint",
        "filesecondaryendpoint",
        "blobsecondaryendpoint",
    ]
)
_KNOWN = {
    name.lower(): name
    for name in (
        "DefaultEndpointsProtocol",
        "AccountName",
        "AccountKey",
        "SharedAccessSignature",
        "BlobEndpoint",
        "EndpointSuffix",
        "UseDevelopmentStorage",
        "DevelopmentStorageProxyUri",
    )
}

ConnectionCredential = AzureNamedKeyCredential | AzureSasCredential | Literal[False]


@dataclasses.dataclass(frozen=True)
class ConnectionString:
    """The blob endpoint and credential that a connection string describes.

    Build one with :meth:`parse`; pass :meth:`url` (or your own URL on
    :attr:`blob_endpoint`) and :attr:`credential` to ``BlobIO``, the datasets and the
    transfer functions. Forms understood:

    * ``AccountName=...;AccountKey=...`` (with optional ``DefaultEndpointsProtocol``,
      ``EndpointSuffix`` or ``BlobEndpoint``): an ``AzureNamedKeyCredential``;
    * ``BlobEndpoint=...;SharedAccessSignature=...``: an ``AzureSasCredential``;
    * ``BlobEndpoint=...`` alone: anonymous access (``credential`` is ``False``);
    * ``UseDevelopmentStorage=true``: the emulator's well-known ``devstoreaccount1``
      account on ``http://127.0.0.1:10000`` (the host is taken from
      ``DevelopmentStorageProxyUri`` if given).

    Queue, table and file endpoints are ignored. The ``repr`` never shows the key
    or the SAS.

    :ivar blob_endpoint: The blob service URL, without a trailing ``/``, e.g.
        ``https://<account>.blob.core.windows.net``.
    :ivar credential: What authorises requests: an ``AzureNamedKeyCredential``, an
        ``AzureSasCredential`` or ``False`` (anonymous).
    :ivar account_name: The account's name, if the string gives it.
    """

    blob_endpoint: str
    credential: ConnectionCredential = dataclasses.field(repr=False, compare=False)
    account_name: str | None = None

    @classmethod
    def parse(cls, connection_string: str) -> ConnectionString:
        """Read ``connection_string``.

        :raises ValueError: if it is malformed; the message names the offending
            field and never contains a key or a SAS.
        :raises TypeError: if it is not a ``str``.
        """
        if not isinstance(connection_string, str):
            raise TypeError(
                f"A connection string must be a str, not {type(connection_string).__name__}."
            )
        fields = _fields(connection_string)
        if "usedevelopmentstorage" in fields:
            return _development_storage(fields)
        return _account(fields)

    def url(self, container: str | None = None, blob_name: str | None = None) -> str:
        """The URL of the account, of ``container``, or of a blob in it.

        ``blob_name`` is percent-quoted (``/`` kept). The credential is not part of
        the URL: pass :attr:`credential` beside it.
        """
        if blob_name is not None and container is None:
            raise ValueError("A blob name needs a container.")
        url = self.blob_endpoint
        if container is not None:
            url += "/" + urllib.parse.quote(container, safe="")
        if blob_name is not None:
            url += "/" + urllib.parse.quote(blob_name, safe="/~")
        return url

    def __repr__(self) -> str:
        return (
            f"ConnectionString(blob_endpoint={self.blob_endpoint!r}, "
            f"credential={_describe_credential(self.credential)})"
        )

    __str__ = __repr__


def _describe_credential(credential: ConnectionCredential) -> str:
    return "anonymous" if credential is False else type(credential).__name__


def _fields(text: str) -> dict[str, str]:
    """The string's ``Key=Value`` fields by lower-cased key."""
    fields: dict[str, str] = {}
    pieces = [piece.strip() for piece in text.strip().split(";")]
    if not any(pieces):
        raise ValueError(
            "The connection string is empty: expected Key=Value fields separated by ';'."
        )
    for position, piece in enumerate(pieces, start=1):
        if not piece:
            continue
        key, equals, value = piece.partition("=")
        key = key.strip()
        if not equals or not key:
            # The piece may be (part of) a secret: name its position, not its text.
            raise ValueError(
                f"Field {position} of the connection string is not Key=Value; fields are "
                "separated by ';'."
            )
        lowered = key.lower()
        if lowered not in _KNOWN and lowered not in _OTHER_SERVICES:
            raise ValueError(
                f"Unknown field {key!r} in the connection string; expected AccountName, "
                "AccountKey, SharedAccessSignature, BlobEndpoint, DefaultEndpointsProtocol, "
                "EndpointSuffix or UseDevelopmentStorage."
            )
        if lowered in fields:
            raise ValueError(f"The connection string gives {key} twice.")
        value = value.strip()
        if not value:
            raise ValueError(f"The connection string's {key} is empty.")
        fields[lowered] = value
    return fields


def _development_storage(fields: dict[str, str]) -> ConnectionString:
    if fields["usedevelopmentstorage"].lower() != "true":
        raise ValueError(
            "UseDevelopmentStorage in the connection string must be 'true' (it is the "
            "only value the emulator form knows)."
        )
    allowed = ("usedevelopmentstorage", "developmentstorageproxyuri")
    extra = sorted(_KNOWN[key] for key in fields if key in _KNOWN and key not in allowed)
    if extra:
        raise ValueError(
            f"UseDevelopmentStorage=true cannot be combined with {', '.join(extra)}; give "
            "the account's fields without UseDevelopmentStorage instead."
        )
    scheme, host = "http", "127.0.0.1"
    proxy = fields.get("developmentstorageproxyuri")
    if proxy is not None:
        parts = urllib.parse.urlsplit(proxy)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "DevelopmentStorageProxyUri in the connection string must be an http(s) URL "
                "such as http://127.0.0.1."
            )
        scheme, host = parts.scheme, parts.hostname
        if ":" in host:
            host = f"[{host}]"
    return ConnectionString(
        blob_endpoint=f"{scheme}://{host}:{_DEV_BLOB_PORT}/{_DEV_ACCOUNT}",
        credential=AzureNamedKeyCredential(_DEV_ACCOUNT, _DEV_KEY),
        account_name=_DEV_ACCOUNT,
    )


def _account(fields: dict[str, str]) -> ConnectionString:
    account = fields.get("accountname")
    key = fields.get("accountkey")
    sas = fields.get("sharedaccesssignature")
    endpoint = fields.get("blobendpoint")
    if endpoint is not None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "BlobEndpoint in the connection string must be an http(s) URL such as "
                "https://<account>.blob.core.windows.net."
            )
        if parts.query or parts.fragment:
            raise ValueError(
                "BlobEndpoint in the connection string must not have a query; put a SAS in "
                "SharedAccessSignature."
            )
        endpoint = endpoint.rstrip("/")
    else:
        if account is None:
            raise ValueError(
                "The connection string names no blob service: give AccountName (with "
                "AccountKey or SharedAccessSignature) or BlobEndpoint."
            )
        protocol = fields.get("defaultendpointsprotocol", "https").lower()
        if protocol not in ("http", "https"):
            raise ValueError(
                "DefaultEndpointsProtocol in the connection string must be 'https' or 'http'."
            )
        suffix = fields.get("endpointsuffix", "core.windows.net").strip(".")
        endpoint = f"{protocol}://{account}.blob.{suffix}"
    credential: ConnectionCredential
    if key is not None:
        if account is None:
            raise ValueError(
                "The connection string has AccountKey but no AccountName; the key signs "
                "requests in the account's name, so give both."
            )
        try:
            base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                "AccountKey in the connection string is not valid base64; copy the key "
                "again from the portal or `az storage account keys list`."
            ) from None
        credential = AzureNamedKeyCredential(account, key)
    elif sas is not None:
        credential = AzureSasCredential(sas.lstrip("?"))
    else:
        credential = False
    return ConnectionString(blob_endpoint=endpoint, credential=credential, account_name=account)
