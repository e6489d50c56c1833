"""Where the demo's data lives, and putting the images there.

The demo runs against the Azurite it starts itself (account key), or against a
real account given as ``--account-url``: with a SAS query in that URL the SAS is
used, otherwise ``DefaultAzureCredential``. The images go up through
``azstoragetorch.io.transfer``, as a user would upload a folder of class folders.
"""

from __future__ import annotations

import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import ContainerClient
from tqdm import tqdm

from azstoragetorch.io import transfer


@dataclass(frozen=True)
class Location:
    """A container, and what authorises requests to it."""

    container_url: str
    """The container's URL, without any query."""
    sas: str
    """A SAS query string (without ``?``), or ``""``."""
    credential: Any
    """What azstoragetorch is given: ``None`` for the default credential, or a key."""
    where: str
    """Words for the user: which service this is."""

    @classmethod
    def from_account_url(
        cls, account_url: str, container: str, credential: Any, where: str
    ) -> Location:
        """The container ``container`` of the account at ``account_url`` (which may hold a SAS)."""
        parts = urllib.parse.urlsplit(account_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SystemExit(
                f"--account-url must look like https://<account>.blob.core.windows.net, "
                f"not {parts.scheme}://{parts.netloc}{parts.path}"
            )
        base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        return cls(f"{base}/{container}", parts.query, None if parts.query else credential, where)

    def with_sas(self, url: str) -> str:
        """``url`` with this location's SAS query appended, if it has one."""
        return f"{url}?{self.sas}" if self.sas else url

    def blob_url(self, name: str) -> str:
        """The URL to give azstoragetorch for blob ``name`` (SAS included)."""
        return self.with_sas(f"{self.container_url}/{urllib.parse.quote(name)}")

    def create_container(self) -> bool:
        """Create the container unless it exists; return whether it was created."""
        credential = self.credential
        if credential is None and not self.sas:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        client = ContainerClient.from_container_url(
            self.with_sas(self.container_url), credential=credential
        )
        with client:
            try:
                client.create_container()
            except ResourceExistsError:
                return False
        return True


def upload(
    location: Location,
    files: Sequence[tuple[str, bytes]],
    *,
    concurrency: int = 16,
    progress: bool = True,
) -> int:
    """Upload ``(blob name, data)`` pairs with a progress bar; return the bytes sent.

    The images are written to a temporary folder laid out as the blob names, which
    ``azstoragetorch.io.transfer.upload`` sends as a tree, the way a user uploads a
    folder of class folders.
    """
    with tempfile.TemporaryDirectory(prefix="azstoragetorch-demo-") as folder:
        root = Path(folder)
        for name, data in files:
            path = root.joinpath(*name.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        with tqdm(total=len(files), unit="blob", disable=not progress, leave=True) as bar:

            def advance(
                bytes_done: int, bytes_total: int, files_done: int, files_total: int
            ) -> None:
                bar.update(files_done - bar.n)

            summary = transfer.upload(
                root,
                location.with_sas(location.container_url),
                credential=location.credential,
                overwrite="always",
                concurrency=concurrency,
                progress=advance,
            )
    if summary.failed:
        first = summary.failed[0]
        raise SystemExit(
            f"{len(summary.failed)} images failed to upload; the first, "
            f"{first.destination}: {first.reason}"
        )
    return summary.bytes_transferred
