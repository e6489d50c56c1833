"""How a dataset gets its clients: the shared per-process ``ClientFactory`` of core."""

from __future__ import annotations

from azstoragetorch._core._client_factory import ClientFactory, options_or_default
from azstoragetorch._core._credentials import Credential
from azstoragetorch.options import ClientOptions

__all__ = ["ClientFactory", "clients_for"]


def clients_for(credential: Credential, options: ClientOptions | None) -> ClientFactory:
    """The clients of a dataset made with ``credential`` and ``options``."""
    return ClientFactory(credential, options_or_default(options))
