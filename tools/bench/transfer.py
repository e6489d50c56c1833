"""Transfer benchmark: ``python -m tools.bench.transfer [--files N] [--large-mib M] [--reps R]``.

Measures ``azstoragetorch.io.transfer`` beside the baselines issue 19 names, in the
same run, on a local Azurite it starts and stops:

- **many small files**: ``--files`` files of ``--file-size`` bytes in ``--classes``
  class folders, uploaded and downloaded; the baseline is the loop users write
  today, a thread pool of 8 calling azure-storage-blob's ``upload_blob`` /
  ``download_blob`` per file (target: at least 2x its rate);
- **one large file** of ``--large-mib`` MiB, up and down; the baselines are
  ``BlobIO`` moving the same bytes (target: at least 0.9x its rate) and curl, one
  Put Blob or GET, the limit of the machine;
- **re-run**: an ``overwrite="if-changed"`` upload of the small tree when nothing
  changed, against the first upload of it; it must send list requests only and be
  at least 20x faster.

Beside the cases whose targets this machine may not allow, it times in the same run
the work they cannot avoid, each alone: for the large download, the MD5 of the same
bytes (a download verifies the blob's Content-MD5, and MD5 is sequential) and
writing them to a local file, both from memory; for the re-run, listing the prefix
(through ``transfer.list``) and reading and hashing the local tree; for the small
files, bare ``http.client`` PUTs and GETs of the same files from 8 threads with a
SAS (no signing, no checks, nothing written locally), which is what Azurite itself
allows here.

Repetitions interleave ours and the baselines. Medians are printed. Run it with
the development environment's Python::

    python3 tools/dev.py hatch run python -m tools.bench.transfer --files 300 --large-mib 64

The full size is ``--files 3000 --large-mib 1024``. Azurite shares the machine's
cores, so on a busy machine the figures move between runs; compare the ratios.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import hashlib
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .runner import curl_get, curl_path, curl_put

REPO = Path(__file__).resolve().parents[2]
_MIB = 1024 * 1024
_SDK_THREADS = 8


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.transfer")
    parser.add_argument("--files", type=int, default=3000, help="small files (3000)")
    parser.add_argument("--file-size", type=int, default=1024, help="bytes each (1024)")
    parser.add_argument("--classes", type=int, default=10, help="class folders (10)")
    parser.add_argument("--large-mib", type=int, default=1024, help="large file MiB (1024)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (3)")
    args = parser.parse_args(argv)
    if min(args.files, args.file_size, args.classes, args.large_mib, args.reps) < 1:
        parser.error("every size and count must be at least 1")
    return args


@contextmanager
def _counting_requests() -> Iterator[list[str]]:
    """Record the query of every request the library sends, in this process."""
    from azstoragetorch._core._shared_transport import ProcessLocalTransport

    seen: list[str] = []
    original = ProcessLocalTransport.send

    def send(self: ProcessLocalTransport, request: Any, **kwargs: Any) -> Any:
        seen.append(f"{request.method} {urllib.parse.urlsplit(request.url).query}")
        return original(self, request, **kwargs)

    ProcessLocalTransport.send = send  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        ProcessLocalTransport.send = original  # type: ignore[method-assign]


def _make_small_tree(root: Path, files: int, size: int, classes: int) -> None:
    for i in range(files):
        path = root / f"class_{i % classes}" / f"{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))


def _make_large_file(path: Path, mib: int) -> None:
    with open(path, "wb") as file:
        for _ in range(mib):
            file.write(os.urandom(_MIB))


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    sys.path.insert(0, str(REPO / "tools"))
    import azurite
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.blob import (
        BlobServiceClient,
        ContainerSasPermissions,
        generate_container_sas,
    )

    from azstoragetorch.io import BlobIO, transfer

    curl = curl_path()
    results: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        results.setdefault(name, []).append(seconds)

    @contextmanager
    def clock(name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        record(name, time.perf_counter() - started)

    instance = azurite.start()
    try:
        key = AzureNamedKeyCredential(instance.account_name, instance.account_key)
        service = BlobServiceClient.from_connection_string(instance.connection_string)
        container = service.create_container("bench")
        url = f"{instance.blob_endpoint}/bench"
        sas = generate_container_sas(
            instance.account_name,
            "bench",
            account_key=instance.account_key,
            permission=ContainerSasPermissions(read=True, write=True, create=True),
            expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=4),
        )
        with tempfile.TemporaryDirectory(prefix="bench-transfer-") as folder:
            work = Path(folder)
            tree = work / "tree"
            _make_small_tree(tree, args.files, args.file_size, args.classes)
            small_files = sorted(p for p in tree.rglob("*") if p.is_file())
            large = work / "large.bin"
            _make_large_file(large, args.large_mib)
            large_size = large.stat().st_size

            def sdk_upload(prefix: str) -> None:
                def put(path: Path) -> None:
                    name = f"{prefix}{path.relative_to(tree).as_posix()}"
                    with open(path, "rb") as file:
                        container.upload_blob(name, file, overwrite=True)

                with concurrent.futures.ThreadPoolExecutor(_SDK_THREADS) as pool:
                    list(pool.map(put, small_files))

            def sdk_download(prefix: str, target: Path) -> None:
                names = [b.name for b in container.list_blobs(name_starts_with=prefix)]

                def get(name: str) -> None:
                    path = target / name[len(prefix) :]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(container.download_blob(name).readall())

                with concurrent.futures.ThreadPoolExecutor(_SDK_THREADS) as pool:
                    list(pool.map(get, names))

            def bare(method: str, prefix: str) -> None:
                local = threading.local()
                parts = urllib.parse.urlsplit(url)

                def send(path: Path) -> None:
                    connection = getattr(local, "connection", None)
                    if connection is None:
                        connection = local.connection = http.client.HTTPConnection(
                            parts.hostname or "", parts.port
                        )
                    name = urllib.parse.quote(f"{prefix}{path.relative_to(tree).as_posix()}")
                    headers = {"x-ms-version": "2025-01-05", "x-ms-blob-type": "BlockBlob"}
                    body = path.read_bytes() if method == "PUT" else None
                    connection.request(method, f"{parts.path}/{name}?{sas}", body, headers)
                    response = connection.getresponse()
                    response.read()
                    if response.status >= 300:
                        raise SystemExit(f"bare {method} failed: {response.status}")

                with concurrent.futures.ThreadPoolExecutor(_SDK_THREADS) as pool:
                    list(pool.map(send, small_files))

            def blobio_write(name: str) -> None:
                with (
                    open(large, "rb") as source,
                    BlobIO(f"{url}/{name}", "wb", credential=key) as f,
                ):
                    while chunk := source.read(64 * _MIB):
                        f.write(chunk)

            def blobio_read(name: str) -> None:
                buffer = bytearray(64 * _MIB)
                with BlobIO(f"{url}/{name}", "rb", credential=key) as f:
                    while f.readinto(buffer):
                        pass

            def check(summary: transfer.TransferSummary) -> None:
                if not summary.ok:
                    raise SystemExit(f"transfer failed: {summary.failed[:3]}")

            for rep in range(args.reps):
                print(f"repetition {rep + 1}/{args.reps} ...", file=sys.stderr)
                ours_prefix, sdk_prefix = f"{url}/ours-{rep}/", f"sdk-{rep}/"
                with clock("small up ours"):
                    check(transfer.upload(tree, ours_prefix, credential=key, overwrite="always"))
                with clock("small up sdk"):
                    sdk_upload(sdk_prefix)
                with clock("small down ours"):
                    check(transfer.download(ours_prefix, work / f"ours-{rep}", credential=key))
                with clock("small down sdk"):
                    sdk_download(sdk_prefix, work / f"sdk-{rep}")
                with clock("small up bare"):
                    bare("PUT", f"bare-{rep}/")
                with clock("small down bare"):
                    bare("GET", f"bare-{rep}/")
                # Re-run: a first if-changed upload into a fresh prefix, then again.
                rerun = f"{url}/rerun-{rep}/"
                with clock("rerun first"):
                    check(transfer.upload(tree, rerun, credential=key))
                with _counting_requests() as requests, clock("rerun again"):
                    check(transfer.upload(tree, rerun, credential=key))
                results.setdefault("rerun requests", []).append(float(len(requests)))
                non_list = [r for r in requests if "comp=list" not in r]
                results.setdefault("rerun non-list requests", []).append(float(len(non_list)))

                with clock("rerun listing alone"):
                    sum(1 for _ in transfer.list(rerun, credential=key))
                with clock("rerun hashing alone"):
                    for path in small_files:
                        hashlib.md5(path.read_bytes())

                name = f"large-{rep}.bin"
                with clock("large up ours"):
                    check(transfer.upload(large, f"{url}/{name}", credential=key))
                with clock("large up blobio"):
                    blobio_write(f"blobio-{name}")
                target = work / f"large-down-{rep}.bin"
                with clock("large down ours"):
                    check(transfer.download(f"{url}/{name}", target, credential=key))
                target.unlink()
                chunks = []
                with open(large, "rb") as source:
                    while chunk := source.read(64 * _MIB):
                        chunks.append(chunk)
                with clock("large md5 alone"):
                    digest = hashlib.md5()
                    for chunk in chunks:
                        digest.update(chunk)
                with clock("large write alone"), open(target, "wb") as written:
                    for chunk in chunks:
                        written.write(chunk)
                target.unlink()
                del chunks
                with clock("large down blobio"):
                    blobio_read(name)
                if curl is not None:
                    curl_url = f"{url}/curl-{name}?{sas}"
                    record("large up curl", curl_put(curl, curl_url, large, 600).seconds)
                    record("large down curl", curl_get(curl, curl_url, large_size, 600).seconds)
    finally:
        instance.stop()
    _report(args, results, large_size, curl is not None)
    return 0


def _report(
    args: argparse.Namespace, results: dict[str, list[float]], large_size: int, curl: bool
) -> None:
    def median(name: str) -> float:
        return statistics.median(results[name])

    files = args.files
    print(
        f"\nTransfer benchmark: {files} files of {args.file_size} B in {args.classes} folders, "
        f"one file of {args.large_mib} MiB, {args.reps} repetitions (medians), local Azurite"
    )
    rows = []
    for way in ("up", "down"):
        ours, sdk = median(f"small {way} ours"), median(f"small {way} sdk")
        rows.append(
            (
                f"small files {way}",
                f"{files / ours:,.0f} files/s",
                f"SDK loop of 8 threads: {files / sdk:,.0f} files/s, "
                f"bare {'PUTs' if way == 'up' else 'GETs'} "
                f"{files / median(f'small {way} bare'):,.0f} files/s",
                f"{sdk / ours:.2f}x",
                ">= 2x",
            )
        )
    for way in ("up", "down"):
        ours, blobio = median(f"large {way} ours"), median(f"large {way} blobio")
        limit = (
            f", curl {large_size / median(f'large {way} curl') / _MIB:,.0f} MiB/s" if curl else ""
        )
        if way == "down":
            limit += (
                f", MD5 alone {large_size / median('large md5 alone') / _MIB:,.0f} MiB/s, "
                f"writing the file alone {large_size / median('large write alone') / _MIB:,.0f} "
                "MiB/s"
            )
        rows.append(
            (
                f"large file {way}",
                f"{large_size / ours / _MIB:,.0f} MiB/s",
                f"BlobIO {large_size / blobio / _MIB:,.0f} MiB/s{limit}",
                f"{blobio / ours:.2f}x",
                ">= 0.9x",
            )
        )
    first, again = median("rerun first"), median("rerun again")
    requests = int(median("rerun requests"))
    others = int(median("rerun non-list requests"))
    rows.append(
        (
            "re-run, nothing changed",
            f"{again:.2f} s, {requests} requests ({others} not List Blobs)",
            f"first upload {first:.2f} s",
            f"{first / again:.1f}x",
            ">= 20x, lists only",
        )
    )
    listing, hashing = median("rerun listing alone"), median("rerun hashing alone")
    rows.append(
        (
            "  re-run's floor",
            f"listing alone {listing:.2f} s + hashing alone {hashing:.2f} s",
            f"first upload {first:.2f} s",
            f"at most {first / (listing + hashing):.1f}x",
            "",
        )
    )
    header = ("case", "ours", "baseline", "ours vs baseline", "target")
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    sys.exit(main())
