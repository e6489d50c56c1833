"""Client CPU per small GET: ``python -m tools.bench.get_cpu [--size N] [--gets N] [--https]``.

Small-blob datasets are bound by what one request costs the client, not by the
network. This starts a local Azurite, uploads one blob, and measures the process
CPU time (user + system, all threads) per sequential GET of it:

- ``ours``: ``BlobClient.read_into`` with a SharedKey credential, the datasets' path;
- ``ours-anonymous``: the same without signing, to show what the auth policy costs;
- ``http.client``: a bare keep-alive GET with the standard library, the floor.

It also weighs our response-head reader (``_core/_response.py``) against the
standard library's, twice:

- ``head, stdlib`` / ``head, ours``: reading one real response head (the status
  line and headers of that GET) from memory, the parser alone;
- ``ours, stdlib head``: the whole ``ours`` GET with ``http.client``'s own header
  parser put back (its headers then copied into the case-insensitive mapping the
  transport hands on), beside ``ours``, so the parser's share is seen in the cost
  of a whole request.

``--https`` runs it all against Azurite over TLS (a throw-away self-signed CA,
trusted through ``REQUESTS_CA_BUNDLE``, the variable that wins), where encryption
adds to every request's CPU and the parser's share of it is smaller.

Each is measured ``--rounds`` times, interleaved; the median is printed. Run it
with the development environment's Python (``python3 tools/dev.py hatch run python
-m tools.bench.get_cpu``). Azurite runs on the same cores, so the wall time is not
meaningful; CPU time of this process is.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import os
import socket
import ssl
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _ours(url: str, credential: object, size: int) -> Callable[[], None]:
    from azstoragetorch._core._blob_client import BlobClient
    from azstoragetorch._core._url import BlobURL

    client = BlobClient.create(BlobURL.parse(url), credential)  # type: ignore[arg-type]
    etag = client.get_properties().etag
    buffer = memoryview(bytearray(size))
    return lambda: client.read_into(0, buffer, etag)


def _bare(url: str, size: int, ca_cert: Path | None) -> Callable[[], None]:
    parts = urllib.parse.urlsplit(url)
    connection: http.client.HTTPConnection
    if ca_cert is None:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
    else:
        context = ssl.create_default_context(cafile=str(ca_cert))
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=context)
    buffer = memoryview(bytearray(size))

    def get() -> None:
        connection.request("GET", parts.path, headers={"x-ms-version": "2025-01-05"})
        try:
            response = connection.getresponse()
        except http.client.RemoteDisconnected:  # idle past Azurite's keep-alive timeout
            connection.close()
            connection.request("GET", parts.path, headers={"x-ms-version": "2025-01-05"})
            response = connection.getresponse()
        response.readinto(buffer)
        response.read()  # the end of the body; returns the connection for reuse

    return get


def _response_head(url: str, ca_cert: Path | None) -> bytes:
    """The status line and headers Azurite sends for a GET of ``url``, as bytes."""
    parts = urllib.parse.urlsplit(url)
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(
            socket.create_connection((parts.hostname or "", parts.port or 80))
        )
        if ca_cert is not None:
            context = ssl.create_default_context(cafile=str(ca_cert))
            sock = stack.enter_context(context.wrap_socket(sock, server_hostname=parts.hostname))
        request = (
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "x-ms-version: 2025-01-05\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(request.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"


def _head_parse(response_class: type[http.client.HTTPResponse], head: bytes) -> Callable[[], None]:
    class _Socket:
        def makefile(self, mode: str) -> io.BufferedReader:
            return io.BufferedReader(io.BytesIO(head))

    def parse() -> None:
        response_class(_Socket()).begin()  # type: ignore[arg-type]

    return parse


def _stdlib_begin(response: http.client.HTTPResponse) -> None:
    """``http.client``'s own ``begin``, its headers then put where ours puts them."""
    from azure.core.utils import CaseInsensitiveDict

    http.client.HTTPResponse.begin(response)
    headers = CaseInsensitiveDict()
    for name, value in response.headers.items():
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous}, {value}"
    response.headers = response.msg = headers  # type: ignore[assignment]


def _with_stdlib_head(call: Callable[[], None]) -> Callable[[], None]:
    """``call`` with every response of the blob client read by the standard library."""
    from azstoragetorch._core._response import FastHeadersResponse

    ours = FastHeadersResponse.begin

    def get() -> None:
        FastHeadersResponse.begin = _stdlib_begin  # type: ignore[method-assign,assignment]
        try:
            call()
        finally:
            FastHeadersResponse.begin = ours  # type: ignore[method-assign]

    return get


def _cpu_ms_per_call(call: Callable[[], None], count: int) -> float:
    for _ in range(20):  # warm the connection and caches
        call()
    start = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - start) * 1000 / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.get_cpu")
    parser.add_argument("--size", type=int, default=16 * 1024, help="blob size in bytes")
    parser.add_argument("--gets", type=int, default=1000, help="GETs per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per client")
    parser.add_argument("--https", action="store_true", help="talk to Azurite over TLS")
    args = parser.parse_args(argv)

    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.blob import BlobServiceClient

    from .rig import azurite

    instance = azurite.start(https=args.https)
    if instance.ca_cert_path is not None:  # the trust variable that wins
        os.environ["REQUESTS_CA_BUNDLE"] = str(instance.ca_cert_path)
    try:
        service = BlobServiceClient.from_connection_string(
            instance.connection_string,
            connection_verify=str(instance.ca_cert_path) if instance.ca_cert_path else True,
        )
        container = service.create_container("getcpu", public_access="blob")
        container.upload_blob("small.bin", os.urandom(args.size))
        url = f"{instance.blob_endpoint}/getcpu/small.bin"
        key = AzureNamedKeyCredential(instance.account_name, instance.account_key)
        from azstoragetorch._core._response import FastHeadersResponse

        head = _response_head(url, instance.ca_cert_path)
        ours = _ours(url, key, args.size)
        clients = {
            "ours": ours,
            "ours, stdlib head": _with_stdlib_head(ours),
            "ours-anonymous": _ours(url, False, args.size),
            "http.client": _bare(url, args.size, instance.ca_cert_path),
            "head, stdlib": _head_parse(http.client.HTTPResponse, head),
            "head, ours": _head_parse(FastHeadersResponse, head),
        }
        samples: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, call in clients.items():
                samples[name].append(_cpu_ms_per_call(call, args.gets))
        scheme = "HTTPS" if args.https else "HTTP"
        print(
            f"{args.size} B GETs over {scheme}, {args.gets} x {args.rounds} rounds, "
            f"load {os.getloadavg()}"
        )
        for name, values in samples.items():
            spread = ", ".join(f"{value:.3f}" for value in values)
            what = "response head" if name.startswith("head") else "GET"
            print(f"{name:>17}: {statistics.median(values):.3f} ms CPU per {what}  ({spread})")
        paired = [a / b for a, b in zip(samples["ours"], samples["ours, stdlib head"], strict=True)]
        print(
            f"ours / (ours, stdlib head): {statistics.median(paired):.2f}x CPU per GET "
            "(median of the rounds' ratios; below 1 means our head reader saves CPU)"
        )
        service.close()
    finally:
        instance.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
