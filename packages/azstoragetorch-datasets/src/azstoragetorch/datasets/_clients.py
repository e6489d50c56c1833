"""The per-process pipelines that all blobs of a dataset share.

A dataset keeps only what describes its connections, the credential and the client
options, and builds a pipeline the first time a process sends a request. A pickled
dataset (``spawn`` and ``forkserver`` DataLoader workers) carries no pipeline, and
a forked process notices that the pipelines it inherited belong to its parent and
builds its own: a token credential's cache, like a connection, is never used by
two processes.
"""

from __future__ import annotations

import os
from typing import Any

from azure.core.pipeline import Pipeline

from azstoragetorch._core._client import BlobClient, ClientOptions, build_pipeline
from azstoragetorch._core._credentials import Credential, check_credential
from azstoragetorch._core._url import BlobURL

__all__ = ["Clients", "clients_for"]

# What decides a pipeline: the endpoint, and whether the URL carries its own SAS
# (then no credential policy is added).
_Key = tuple[str, bool]
_DEFAULT_OPTIONS = ClientOptions()


class Clients:
    """Hands out blob clients on pipelines built lazily, once per process.

    Thread-safe without a lock: two threads that race to build the same pipeline
    both get a working one and one of them is kept.
    """

    def __init__(self, credential: Credential, options: ClientOptions = _DEFAULT_OPTIONS) -> None:
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
        return BlobClient(url, self.pipeline(url), self.options)

    def __getstate__(self) -> dict[str, Any]:
        return {"credential": self.credential, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["credential"], state["options"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Clients(credential={type(self.credential).__name__})"


def clients_for(credential: Credential, method: str, internal: dict[str, Any]) -> Clients:
    """The clients of a dataset made by ``method``.

    ``internal`` holds the constructor's internal-only keyword arguments; the one
    known is ``client_options`` (tests shorten retries and timeouts with it).
    """
    options = internal.pop("client_options", _DEFAULT_OPTIONS)
    if internal:
        raise TypeError(f"{method}() got unexpected keyword arguments: {sorted(internal)}")
    return Clients(credential, options)
