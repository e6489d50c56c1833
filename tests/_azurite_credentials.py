"""A fixed bearer-token credential for Azurite's ``--oauth basic`` mode.

Azurite checks a token's claims but not its signature (see ``tools/azurite.py``),
so tests hand a minted token to azure-storage-blob through this credential::

    import azurite
    from _azurite_credentials import StaticTokenCredential

    credential = StaticTokenCredential(azurite.make_oauth_token())
    client = BlobServiceClient(
        instance.blob_endpoint, credential=credential, connection_verify=str(instance.ca_cert_path)
    )
"""

from __future__ import annotations

import base64
import json
from typing import Any

from azure.core.credentials import AccessToken


class StaticTokenCredential:
    """azure-core ``TokenCredential`` that always returns the same token.

    ``expires_on`` (Unix seconds) defaults to the token's ``exp`` claim. An
    expired token is still returned as is: that is how tests provoke a 403.
    """

    def __init__(self, token: str, expires_on: int | None = None) -> None:
        self.token = token
        self.expires_on = _exp_claim(token) if expires_on is None else expires_on
        self.calls = 0  # lets a test see that the SDK really asked for a token

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """Return the fixed token whatever the scopes (Azurite ignores them)."""
        self.calls += 1
        return AccessToken(self.token, self.expires_on)


def _exp_claim(token: str) -> int:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return int(claims["exp"])
