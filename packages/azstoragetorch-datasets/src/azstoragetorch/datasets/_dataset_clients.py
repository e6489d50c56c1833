"""How a dataset gets its clients: the shared per-process ``ClientFactory`` of core."""

from __future__ import annotations

from typing import Any

from azstoragetorch._core._client_factory import DEFAULT_OPTIONS, ClientFactory, reject_unknown
from azstoragetorch._core._credentials import Credential

__all__ = ["ClientFactory", "clients_for"]


def clients_for(credential: Credential, method: str, internal: dict[str, Any]) -> ClientFactory:
    """The clients of a dataset made by ``method``.

    ``internal`` holds the constructor's internal-only keyword arguments; the one
    known is ``client_options`` (tests shorten retries and timeouts with it).
    """
    options = internal.pop("client_options", DEFAULT_OPTIONS)
    reject_unknown(internal, f"{method}()")
    return ClientFactory(credential, options)
