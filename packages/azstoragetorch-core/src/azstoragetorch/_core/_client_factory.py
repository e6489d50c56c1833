"""The per-process pipelines that every blob of a dataset or a checkpoint shares.

An owner keeps only what describes its connections, the credential and the client
options, and builds a pipeline the first time a process sends a request. A pickled
owner (``spawn`` and ``forkserver`` workers, an async checkpoint process) carries no
pipeline, and a forked process notices that the pipelines it inherited belong to its
parent and builds its own: a token credential's cache, like a connection, is never
used by two processes.
"""

from __future__ import annotations

import os
from typing import Any

from azure.core.pipeline import Pipeline

from azstoragetorch._core._blob_client import DEFAULT_OPTIONS, BlobClient, build_pipeline
from azstoragetorch._core._credentials import (
    Credential,
    UsedCredential,
    check_credential,
    used_credential,
)
from azstoragetorch._core._url import BlobURL
from azstoragetorch.options import ClientOptions

__all__ = ["ClientFactory", "options_or_default"]

# What decides a pipeline: the endpoint, and whether the URL carries its own SAS
# (then no credential policy is added).
_Key = tuple[str, bool]


class ClientFactory:
    """Hands out blob clients on pipelines built lazily, once per process.

    Thread-safe without a lock: two threads that race to build the same pipeline
    both get a working one and one of them is kept.
    """

    def __init__(self, credential: Credential, options: ClientOptions = DEFAULT_OPTIONS) -> None:
        self.credential = credential
        self.options = options
        self._pid = -1
        self._pipelines: dict[_Key, Pipeline] = {}  # type: ignore[type-arg]

    def check(self, url: BlobURL) -> None:
        """Raise ``TypeError``/``ValueError`` now if the credential cannot work for ``url``."""
        check_credential(self.credential, url)

    def pipeline(self, url: BlobURL) -> Pipeline:  # type: ignore[type-arg]
        """This process's pipeline for ``url``'s endpoint."""
        pid = os.getpid()
        if self._pid != pid:
            self._pipelines = {}
            self._pid = pid
        key = (url.account_url, url.has_sas)
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            pipeline = build_pipeline(url, self.credential, self.options)
            pipeline = self._pipelines.setdefault(key, pipeline)
        return pipeline

    def client(self, url: BlobURL) -> BlobClient:
        """A client for the blob at ``url``: a small object on a shared pipeline."""
        return BlobClient(url, self.pipeline(url), self.options, self.used(url))

    def used(self, url: BlobURL) -> UsedCredential:
        """The credential requests for ``url`` use, as error messages name it."""
        return used_credential(self.credential, url)

    def __getstate__(self) -> dict[str, Any]:
        return {"credential": self.credential, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["credential"], state["options"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"ClientFactory(credential={type(self.credential).__name__})"


def options_or_default(options: object) -> ClientOptions:
    """``options`` checked to be a ``ClientOptions``; the defaults for ``None``."""
    if options is None:
        return DEFAULT_OPTIONS
    if not isinstance(options, ClientOptions):
        raise TypeError(
            "options must be an azstoragetorch.options.ClientOptions or None; got "
            f"{type(options).__name__}."
        )
    return options
