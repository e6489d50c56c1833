#!/usr/bin/env python3
"""Run the real Azure Storage emulator, Azurite, for tests and local work.

Only the blob service is started, on 127.0.0.1 and a free port, persisting to a
fresh temporary folder that is removed again on stop.

As a module (``tools/`` on ``sys.path``)::

    import azurite

    with azurite.start() as instance:                 # plain HTTP, SharedKey
        client = BlobServiceClient.from_connection_string(instance.connection_string)

    with azurite.start(https=True, oauth=True) as instance:   # HTTPS + bearer tokens
        token = azurite.make_oauth_token()
        ...  # send "Authorization: Bearer <token>", trust instance.ca_cert_path

As a command line tool::

    python tools/azurite.py start [--https] [--oauth]   # prints JSON, leaves it running
    python tools/azurite.py stop --pid N [--location DIR]

The pinned version lives in ``tools/azurite-pin/package.json`` (with its lock file);
``install()`` puts it under ``<repo>/.azurite/`` with ``npm ci``. It needs
``node`` and ``npm`` on ``PATH`` and the npm registry; nothing else is fetched.

Bearer tokens under ``--oauth basic`` (Azurite 3.37.0, checked by experiment
and in its ``BlobTokenAuthenticator``):

* only over HTTPS: a bearer token on plain HTTP is refused;
* the token must *decode* as a JWT (three dot-separated parts, JSON header and
  payload); the signature is never checked, so an unsigned ``alg: none`` token
  with an empty third part (``header.payload.``) passes, and so does junk there;
* ``iat``, ``nbf`` and ``exp`` must be present; ``nbf <= now <= exp`` by
  Azurite's clock, with no leeway;
* ``iss`` must start with ``https://sts.windows.net/`` (or the
  ``sts.microsoftonline.de``, ``sts.chinacloudapi.cn``, ``sts.windows-ppe.net``
  equivalents); the tenant after the prefix is not checked, and v2.0 issuers
  (``https://login.microsoftonline.com/<tenant>/v2.0``) are refused;
* ``aud`` must be ``https://storage.azure.com`` (trailing ``/`` allowed), the
  storage app id ``e406a681-f3d4-42a8-90b6-c2b029497af1``, or
  ``https://<account>.blob.core.windows.net`` (or a sovereign-cloud host) whose
  ``<account>`` equals the account in the request (``devstoreaccount1``);
* scopes, roles, ``oid``, ``tid`` are ignored.

A failure is ``403 AuthenticationFailed`` whose ``<AuthenticationErrorDetail>``
names the failed check (e.g. "Lifetime validation failed. The token is
expired.", "Invalid token audience."). Without ``--oauth`` a bearer token is
simply not an accepted credential (``403 AuthorizationFailure``). SharedKey and
SAS keep working next to OAuth. ``make_oauth_token()`` mints a token that passes
these checks.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from processes import CommandTimedOut, exclusive_lock, run_logged, tail

REPO_ROOT = Path(__file__).resolve().parent.parent
# "azurite-pin", not "azurite": a folder named like this module invites import mix-ups.
PIN_DIR = REPO_ROOT / "tools" / "azurite-pin"
INSTALL_DIR = REPO_ROOT / ".azurite"

HOST = "127.0.0.1"
ACCOUNT_NAME = "devstoreaccount1"
# The well-known, public development-storage key that Azurite ships with.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
TOKEN_AUDIENCE = "https://storage.azure.com"
# Any tenant id passes; a zero GUID makes it obvious the token is made up.
TOKEN_ISSUER = "https://sts.windows.net/00000000-0000-0000-0000-000000000000/"

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
NPM_TIMEOUT_S = 900.0
PORT_ATTEMPTS = 3
LOG_NAME = "azurite.log"
CERT_NAME = "azurite-cert.pem"
KEY_NAME = "azurite-key.pem"
_STAMP_NAME = ".installed-pin"
# Azurite reads these to switch to SQL metadata or to other accounts and keys;
# an inherited value would silently change what the tests run against.
_SCRUBBED_ENV = ("AZURITE_DB", "AZURITE_ACCOUNTS")


class AzuriteError(RuntimeError):
    """Azurite could not be installed, started or stopped; the message says why."""


class _PortTaken(AzuriteError):
    """Another process bound the chosen port between our probe and Azurite's bind."""


# --------------------------------------------------------------------------- install


def pinned_version() -> str:
    """The Azurite version pinned in ``tools/azurite-pin/package.json``."""
    manifest = json.loads((PIN_DIR / "package.json").read_text())
    return str(manifest["dependencies"]["azurite"])


def installed_version(install_dir: Path = INSTALL_DIR) -> str | None:
    """The Azurite version under ``install_dir``, or None when there is none."""
    try:
        manifest = json.loads((install_dir / "node_modules/azurite/package.json").read_text())
    except (OSError, ValueError):
        return None
    version = manifest.get("version")
    return version if isinstance(version, str) else None


def blob_binary(install_dir: Path = INSTALL_DIR) -> Path:
    """Path of the ``azurite-blob`` entry point inside an installation."""
    return install_dir / "node_modules" / ".bin" / "azurite-blob"


def install(install_dir: Path = INSTALL_DIR) -> Path:
    """Install the pinned Azurite into ``install_dir`` unless it is already there.

    Safe to call from several processes at once (they serialise on a lock file)
    and cheap when the installation is current. Returns the ``azurite-blob``
    entry point. Raises AzuriteError with npm's output when the install fails.
    """
    install_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(install_dir / ".install.lock"):
        if not _is_current(install_dir):
            _npm_ci(install_dir)
    return blob_binary(install_dir)


def _pin_fingerprint() -> str:
    # The stamp records the lock file too: a changed transitive pin reinstalls
    # even when the top-level version is unchanged.
    digest = hashlib.sha256((PIN_DIR / "package-lock.json").read_bytes()).hexdigest()
    return f"{pinned_version()} {digest}"


def _is_current(install_dir: Path) -> bool:
    # The stamp is written only after `npm ci` succeeded, so an interrupted
    # install (node_modules half there) is not mistaken for a good one.
    try:
        stamp = (install_dir / _STAMP_NAME).read_text()
    except OSError:
        return False
    return (
        stamp == _pin_fingerprint()
        and installed_version(install_dir) == pinned_version()
        and blob_binary(install_dir).exists()
    )


def _npm_ci(install_dir: Path) -> None:
    npm = _require_program("npm")
    (install_dir / _STAMP_NAME).unlink(missing_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(PIN_DIR / name, install_dir / name)
    log_path = install_dir / "npm-ci.log"
    env = {**os.environ, "npm_config_update_notifier": "false"}
    try:
        code = run_logged(
            [npm, "ci", "--no-audit", "--no-fund"],
            log_path,
            NPM_TIMEOUT_S,
            cwd=install_dir,
            env=env,
        )
    except CommandTimedOut as exc:
        raise AzuriteError(str(exc)) from exc
    if code != 0:
        raise AzuriteError(
            f"npm ci in {install_dir} failed with exit code {code}:\n" + tail(log_path)
        )
    if installed_version(install_dir) != pinned_version():
        raise AzuriteError(f"npm ci did not install azurite {pinned_version()} in {install_dir}")
    (install_dir / _STAMP_NAME).write_text(_pin_fingerprint())


def _require_program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise AzuriteError(f"{name!r} is not on PATH; Azurite needs Node.js and npm")
    return found


# --------------------------------------------------------------------------- instance


@dataclass
class AzuriteInstance:
    """A running Azurite blob service; ``stop()`` (or leaving a ``with``) ends it.

    ``location`` is the temporary folder Azurite persists to (it also holds the
    log and, for HTTPS, the certificate); it is removed on stop.
    ``ca_cert_path`` is the certificate to trust for HTTPS (pass it as
    ``connection_verify=`` to azure-storage-blob or as ``REQUESTS_CA_BUNDLE``),
    None for HTTP.
    """

    pid: int
    port: int
    scheme: str
    location: Path
    ca_cert_path: Path | None = None
    oauth: bool = False
    account_name: str = ACCOUNT_NAME
    account_key: str = ACCOUNT_KEY
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def blob_endpoint(self) -> str:
        """Account URL, e.g. ``http://127.0.0.1:PORT/devstoreaccount1``."""
        return f"{self.scheme}://{HOST}:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        """SharedKey connection string for ``BlobServiceClient.from_connection_string``."""
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )

    @property
    def log_path(self) -> Path:
        """Azurite's combined stdout/stderr."""
        return self.location / LOG_NAME

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Terminate Azurite (SIGTERM, then SIGKILL) and remove ``location``. Idempotent."""
        if self._process is not None:
            _stop_child(self._process, timeout)
        else:
            stop_pid(self.pid, timeout)
        shutil.rmtree(self.location, ignore_errors=True)

    def to_json(self) -> dict[str, Any]:
        """What the CLI prints: everything a client needs to connect."""
        return {
            "pid": self.pid,
            "port": self.port,
            "scheme": self.scheme,
            "oauth": self.oauth,
            "blob_endpoint": self.blob_endpoint,
            "account_name": self.account_name,
            "account_key": self.account_key,
            "connection_string": self.connection_string,
            "ca_cert_path": str(self.ca_cert_path) if self.ca_cert_path else None,
            "location": str(self.location),
        }

    def __enter__(self) -> AzuriteInstance:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start(
    https: bool = False,
    oauth: bool = False,
    *,
    install_dir: Path = INSTALL_DIR,
    ready_timeout: float = READY_TIMEOUT_S,
) -> AzuriteInstance:
    """Start Azurite's blob service and return once it answers HTTP(S).

    Installs the pinned Azurite first if needed. ``oauth=True`` (``--oauth
    basic``) requires ``https=True`` because Azurite refuses bearer tokens over
    plain HTTP. Raises AzuriteError, with the tail of Azurite's log, when it does
    not come up within ``ready_timeout`` seconds.
    """
    if oauth and not https:
        raise ValueError("Azurite accepts bearer tokens only over HTTPS: pass https=True")
    entry_point = install(install_dir)
    node = _require_program("node")
    location = Path(tempfile.mkdtemp(prefix="azurite-"))
    try:
        cert = make_certificate(location) if https else None
        return _start_on_free_port(node, entry_point, location, cert, oauth, ready_timeout)
    except BaseException:
        shutil.rmtree(location, ignore_errors=True)
        raise


def _start_on_free_port(
    node: str,
    entry_point: Path,
    location: Path,
    cert: tuple[Path, Path] | None,
    oauth: bool,
    ready_timeout: float,
) -> AzuriteInstance:
    # A port found free may be taken before Azurite binds it; Azurite then exits
    # with EADDRINUSE and we try again on another port.
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        process = _spawn(node, entry_point, location, port, cert, oauth)
        try:
            _wait_until_ready(process, port, cert[0] if cert else None, location, ready_timeout)
        except _PortTaken:
            _stop_child(process, STOP_TIMEOUT_S)
            continue
        except BaseException:
            _stop_child(process, STOP_TIMEOUT_S)
            raise
        return AzuriteInstance(
            pid=process.pid,
            port=port,
            scheme="https" if cert else "http",
            location=location,
            ca_cert_path=cert[0] if cert else None,
            oauth=oauth,
            _process=process,
        )
    raise AzuriteError(f"no free port for Azurite after {PORT_ATTEMPTS} attempts")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _azurite_command(
    entry_point: Path, location: Path, port: int, cert: tuple[Path, Path] | None, oauth: bool
) -> list[str]:
    command = [
        str(entry_point),
        "--blobHost", HOST,
        "--blobPort", str(port),
        "--location", str(location),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
    ]  # fmt: skip
    if cert is not None:
        command += ["--cert", str(cert[0]), "--key", str(cert[1])]
    if oauth:
        command += ["--oauth", "basic"]
    return command


def _spawn(
    node: str,
    entry_point: Path,
    location: Path,
    port: int,
    cert: tuple[Path, Path] | None,
    oauth: bool,
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    with (location / LOG_NAME).open("wb") as log:
        # Own session: a Ctrl-C in the terminal reaches the test runner, which
        # then stops Azurite in order, and a CLI-started Azurite outlives the CLI.
        return subprocess.Popen(
            [node, *_azurite_command(entry_point, location, port, cert, oauth)],
            cwd=location,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_until_ready(
    process: subprocess.Popen[bytes],
    port: int,
    cafile: Path | None,
    location: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = tail(location / LOG_NAME)
            if "EADDRINUSE" in log:
                raise _PortTaken(log)
            raise AzuriteError(
                f"Azurite exited with code {process.returncode} before it answered:\n{log}"
            )
        if _answers_as_azurite(port, cafile):
            return
        time.sleep(0.05)  # bounded readiness polling, not a settle delay
    raise AzuriteError(
        f"Azurite did not answer on port {port} within {timeout:.0f} s; log tail:\n"
        + tail(location / LOG_NAME)
    )


def _answers_as_azurite(port: int, cafile: Path | None) -> bool:
    # The Server header tells our Azurite apart from whatever else might have
    # grabbed the port; for HTTPS the request also proves the certificate works.
    if cafile is None:
        connection: http.client.HTTPConnection = http.client.HTTPConnection(HOST, port, timeout=2)
    else:
        context = ssl.create_default_context(cafile=str(cafile))
        connection = http.client.HTTPSConnection(HOST, port, timeout=2, context=context)
    try:
        connection.request("GET", f"/{ACCOUNT_NAME}?comp=list")
        response = connection.getresponse()
        response.read()
        return (response.getheader("Server") or "").startswith("Azurite-Blob/")
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


# --------------------------------------------------------------------------- stop


def _stop_child(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def is_running(pid: int) -> bool:
    """Whether a process with this PID exists and has not exited.

    An exited but unreaped process (a zombie) counts as not running: reaping
    is up to its parent, and a container's PID 1 may never do it.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop an Azurite started elsewhere (e.g. by the CLI): SIGTERM, wait, then SIGKILL.

    Refuses (AzuriteError) a live PID whose command line does not mention
    azurite, so a stale PID that the system reused is not killed.
    """
    if not is_running(pid):
        return
    if not _looks_like_azurite(pid):
        raise AzuriteError(f"PID {pid} is not an Azurite process; not stopping it")
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        _signal(pid, signal.SIGKILL)
        if not _wait_gone(pid, timeout):
            raise AzuriteError(f"Azurite PID {pid} survived SIGKILL")


def _looks_like_azurite(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs: cannot check, trust the caller
    except OSError:
        return False
    return b"azurite" in cmdline


def _temp_location_of(pid: int) -> Path | None:
    """The ``--location`` of a running Azurite, if it is one of our temp folders."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except (OSError, UnicodeDecodeError):
        return None
    if "--location" not in arguments[:-1]:
        return None
    location = Path(arguments[arguments.index("--location") + 1])
    # Only ever delete what start() made: azurite-* directly in the temp dir.
    is_ours = location.name.startswith("azurite-") and location.parent == Path(
        tempfile.gettempdir()
    )
    return location if is_ours else None


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


# --------------------------------------------------------------------------- certificate


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and localhost and its key.

    Returns ``(cert_path, key_path)`` (PEM). The certificate is its own CA, so
    it is what clients trust. Made with ``cryptography``, a development dependency.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "azurite-test-rig")])
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True,
        crl_sign=False, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    alt_names = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        # CA:TRUE plus key identifiers keep strict verifiers (Python 3.13's
        # VERIFY_X509_STRICT) happy with a self-signed server certificate.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(alt_names, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# --------------------------------------------------------------------------- tokens


def make_oauth_token(
    expires_in: int = 3600,
    *,
    audience: str = TOKEN_AUDIENCE,
    issuer: str = TOKEN_ISSUER,
) -> str:
    """Mint an unsigned JWT that Azurite's ``--oauth basic`` accepts.

    ``expires_in`` is seconds from now (negative for an already expired token);
    ``audience`` and ``issuer`` can be changed to provoke a rejection. See the
    module docstring for exactly what Azurite checks.
    """
    now = int(time.time())
    # A minute of back-dating absorbs a coarse clock; Azurite allows no leeway.
    issued = min(now, now + expires_in) - 60
    claims = {
        "aud": audience,
        "iss": issuer,
        "iat": issued,
        "nbf": issued,
        "exp": now + expires_in,
        "oid": "00000000-0000-0000-0000-000000000001",
        "tid": "00000000-0000-0000-0000-000000000000",
        "sub": "azstoragetorch-tests",
        "scp": "user_impersonation",
    }
    header = {"alg": "none", "typ": "JWT"}
    return f"{_b64url_json(header)}.{_b64url_json(claims)}."


def _b64url_json(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# --------------------------------------------------------------------------- CLI


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Start and stop the pinned Azurite.")
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="start the blob service; print JSON")
    start_parser.add_argument("--https", action="store_true", help="serve HTTPS")
    start_parser.add_argument(
        "--oauth", action="store_true", help="--oauth basic (implies --https)"
    )
    stop_parser = commands.add_parser("stop", help="stop an Azurite started with 'start'")
    stop_parser.add_argument("--pid", type=int, required=True)
    stop_parser.add_argument("--location", type=Path, help="also remove this temp folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code."""
    args = _parse_args(argv)
    try:
        if args.command == "start":
            instance = start(https=args.https or args.oauth, oauth=args.oauth)
            print(json.dumps(instance.to_json(), indent=2))
        else:
            location = args.location or _temp_location_of(args.pid)
            stop_pid(args.pid)
            if location is not None:
                shutil.rmtree(location, ignore_errors=True)
    except AzuriteError as exc:
        print(f"azurite: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
