"""The data the scenarios read, made locally and uploaded with the Azure SDK.

Nothing here uses the code under test: files are written with the standard library
and ``torch.save``, then uploaded with ``azure-storage-blob``. Every URL carries
the same container SAS, so ours and upstream pay the same authorisation cost.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from .plan import IMPLEMENTATIONS, MIB, Implementation, Sizes

CONTAINER = "bench"
SAMPLE_COUNT = 16
SAMPLE_BYTES = 64
_WRITE_PIECE = 64 * MIB
_UPLOAD_BLOCK = 32 * MIB
_UPLOAD_CONCURRENCY = 4


@dataclass(frozen=True)
class BlobData:
    """A prepared blob and what a reader can check about it."""

    name: str
    size: int
    n_tensors: int = 0
    tensor_bytes: int = 0
    samples: dict[int, str] = field(default_factory=dict)
    """Offset -> expected bytes (hex) at a few places, for a cheap content check."""


@dataclass(frozen=True)
class Prepared:
    """Everything uploaded for one run."""

    random: BlobData
    random_file: Path
    """Local copy of the random blob, the body of the curl PUT."""
    checkpoint: BlobData
    small: dict[Implementation, BlobData]


class Store:
    """A container in Azurite, addressed with a container SAS, as both implementations
    and curl are given it. The checkpoint scenarios use one, the datasets another."""

    def __init__(
        self,
        connection_string: str,
        account: str,
        key: str,
        endpoint: str,
        container: str = CONTAINER,
    ) -> None:
        self._service = BlobServiceClient.from_connection_string(
            connection_string,
            max_block_size=_UPLOAD_BLOCK,
            max_single_put_size=_UPLOAD_BLOCK,
        )
        self.client = self._service.get_container_client(container)
        self.client.create_container()
        permission = ContainerSasPermissions(
            read=True, add=True, create=True, write=True, delete=True, list=True
        )
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        self.sas = generate_container_sas(
            account, container, account_key=key, permission=permission, expiry=expiry
        )
        self.container_url = f"{endpoint}/{container}"

    @property
    def sas_url(self) -> str:
        """The container's URL with the SAS in its query."""
        return f"{self.container_url}?{self.sas}"

    def url(self, name: str) -> str:
        """The blob's URL with the SAS in its query."""
        return f"{self.container_url}/{quote(name)}?{self.sas}"

    def upload(self, name: str, path: Path) -> int:
        """Upload a local file as a block blob; return its size."""
        size = path.stat().st_size
        with path.open("rb") as source:
            self.client.upload_blob(
                name, source, length=size, overwrite=True, max_concurrency=_UPLOAD_CONCURRENCY
            )
        return size

    def size_of(self, name: str) -> int:
        """The committed size of a blob."""
        return int(self.client.get_blob_client(name).get_blob_properties().size)

    def delete(self, name: str) -> None:
        """Delete a blob so that Azurite's disk does not fill up over a run."""
        self.client.delete_blob(name)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob whose name starts with ``prefix/``."""
        for blob in self.client.list_blobs(name_starts_with=f"{prefix}/"):
            self.client.delete_blob(blob.name)

    def close(self) -> None:
        """Release the SDK's connections."""
        self._service.close()


def prepare(store: Store, sizes: Sizes, workdir: Path) -> Prepared:
    """Write the files for ``sizes`` into ``workdir`` and upload them."""
    random_file = workdir / "random.bin"
    samples = write_random_file(random_file, sizes.big, sizes.chunk)
    random_blob = BlobData("random.bin", store.upload("random.bin", random_file), samples=samples)

    checkpoint = _upload_checkpoint(
        store, workdir, "checkpoint.pt", sizes.save_tensors, sizes.save_tensor_bytes
    )
    small: dict[Implementation, BlobData] = {}
    for implementation in IMPLEMENTATIONS:
        count = sizes.small_count(implementation)
        existing = next((b for b in small.values() if b.n_tensors == count), None)
        small[implementation] = existing or _upload_checkpoint(
            store, workdir, f"small-{count}.pt", count, sizes.small_tensor_bytes
        )
    return Prepared(random_blob, random_file, checkpoint, small)


def write_random_file(path: Path, size: int, alignment: int) -> dict[int, str]:
    """Write ``size`` pseudo-random bytes; return sample windows at aligned offsets.

    The offsets are multiples of ``alignment`` (the read loop's chunk size), spread
    from the first chunk to the last, so chunked readers can check them cheaply.
    """
    generator = random.Random(20240229)
    chunks = max(1, size // alignment)
    wanted = sorted(
        {(chunks - 1) * i // (SAMPLE_COUNT - 1) * alignment for i in range(SAMPLE_COUNT)}
    )
    samples: dict[int, str] = {}
    written = 0
    with path.open("wb") as out:
        while written < size:
            piece = generator.randbytes(min(_WRITE_PIECE, size - written))
            for offset in wanted:
                if written <= offset < written + len(piece):
                    window = piece[offset - written : offset - written + SAMPLE_BYTES]
                    samples[offset] = window.hex()
            out.write(piece)
            written += len(piece)
    return samples


def _upload_checkpoint(
    store: Store, workdir: Path, name: str, n_tensors: int, tensor_bytes: int
) -> BlobData:
    import torch

    path = workdir / name
    numel = tensor_bytes // 4  # float32
    state = {f"layer{i:05d}.weight": torch.rand(numel) for i in range(n_tensors)}
    torch.save(state, path)
    del state
    size = store.upload(name, path)
    path.unlink()
    return BlobData(name, size, n_tensors=n_tensors, tensor_bytes=tensor_bytes)
