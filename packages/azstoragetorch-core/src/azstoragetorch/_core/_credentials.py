"""Turning the ``credential`` argument into the policy that authorises requests.

The rules, applied per URL:

1. A SAS in the URL's query wins: the credential argument is ignored for that URL.
2. ``None`` means ``azure.identity.DefaultAzureCredential``, created at first use and
   shared by every object in the process, so tokens are cached across all of them.
3. ``AzureSasCredential``, ``AzureNamedKeyCredential`` (account key) and any
   ``TokenCredential`` are used as given.
4. ``False`` means anonymous requests, for public containers.

Token credentials, the default one included, need ``https``: the service must never
see a bearer token in clear text.
"""

from __future__ import annotations

from typing import Literal

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential, TokenCredential
from azure.core.pipeline.policies import (
    AzureSasCredentialPolicy,
    BearerTokenCredentialPolicy,
    HTTPPolicy,
    SansIOHTTPPolicy,
)

from azstoragetorch._core._process_local import ProcessLocal
from azstoragetorch._core._shared_key import SharedKeyPolicy
from azstoragetorch._core._url import BlobURL

__all__ = ["Credential", "auth_policy", "check_credential", "default_credential"]

Credential = AzureSasCredential | AzureNamedKeyCredential | TokenCredential | None | Literal[False]
AuthPolicy = HTTPPolicy | SansIOHTTPPolicy  # type: ignore[type-arg]

_STORAGE_SCOPE = "https://storage.azure.com/.default"


def _new_default_credential() -> TokenCredential:
    # Imported at call time, so importing azstoragetorch never pays for azure-identity.
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


_default: ProcessLocal[TokenCredential] = ProcessLocal(_new_default_credential)


def default_credential() -> TokenCredential:
    """The process-wide ``DefaultAzureCredential``, created on first use.

    Shared by every object in the process so tokens are cached once; a child
    process makes its own.
    """
    return _default.get()


def _is_token_credential(credential: object) -> bool:
    return callable(getattr(credential, "get_token", None)) or callable(
        getattr(credential, "get_token_info", None)
    )


def check_credential(credential: object, url: BlobURL) -> None:
    """Raise ``TypeError``/``ValueError`` now for a credential that cannot work."""
    if url.has_sas or credential is False:
        return
    if isinstance(credential, (AzureSasCredential, AzureNamedKeyCredential)):
        return
    if credential is True or not (credential is None or _is_token_credential(credential)):
        raise TypeError(
            "credential must be None (use DefaultAzureCredential), False (anonymous), an "
            "azure.core.credentials.AzureSasCredential, an AzureNamedKeyCredential or a "
            f"TokenCredential such as azure.identity.DefaultAzureCredential; got "
            f"{type(credential).__name__}."
        )
    if url.scheme != "https":
        what = "The default credential" if credential is None else "A token credential"
        raise ValueError(
            f"{what} sends a bearer token, which is only allowed over https, but "
            f"{url.account_url} uses http. Use an https URL, or, for a local emulator "
            "such as Azurite, pass an AzureNamedKeyCredential (account key), put a SAS "
            "in the URL, or pass credential=False for anonymous access."
        )


def auth_policy(credential: Credential, url: BlobURL) -> AuthPolicy | None:
    """The policy that authorises requests for ``url``, or ``None`` if none is needed.

    A SAS in the URL needs no policy: it travels in every request URL.
    """
    check_credential(credential, url)
    if url.has_sas or credential is False:
        return None
    if isinstance(credential, AzureSasCredential):
        return AzureSasCredentialPolicy(credential)
    if isinstance(credential, AzureNamedKeyCredential):
        return SharedKeyPolicy(credential)
    token_credential = default_credential() if credential is None else credential
    return BearerTokenCredentialPolicy(token_credential, _STORAGE_SCOPE)
