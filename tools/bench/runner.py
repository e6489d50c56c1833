"""Run one repetition: a worker process for ours or upstream, or a curl transfer."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .plan import MIB, Implementation

WORKER = Path(__file__).resolve().parent / "worker.py"
_ERROR_TAIL = 2500


@dataclass(frozen=True)
class Measurement:
    """One timed repetition."""

    size: int
    """Bytes moved in the timed part."""
    seconds: float
    rss_growth: int | None = None
    """Growth of peak RSS over the timed part, in bytes (None for curl)."""
    server_cpu: float | None = None
    """CPU seconds Azurite used meanwhile (None when not measured)."""
    server_thread_cpu: float | None = None
    """The part of ``server_cpu`` spent on Azurite's request thread (its main thread)."""
    client_cpu: float | None = None
    """CPU seconds the client process used over the timed part (None for curl)."""

    @property
    def server_busy(self) -> float | None:
        """Azurite's CPU time over the wall time: how many cores it kept busy."""
        return _share(self.server_cpu, self.seconds)

    @property
    def server_thread_busy(self) -> float | None:
        """The share of the wall time Azurite's request thread was busy (about 1 at
        most: CPU time comes in 10 ms ticks, and curl's window is its whole process)."""
        return _share(self.server_thread_cpu, self.seconds)

    @property
    def client_busy(self) -> float | None:
        """How many cores the client kept busy."""
        return _share(self.client_cpu, self.seconds)

    @property
    def mibps(self) -> float:
        """Throughput in MiB/s."""
        return self.size / MIB / self.seconds


def _share(cpu: float | None, seconds: float) -> float | None:
    return None if cpu is None or seconds <= 0 else cpu / seconds


class RunFailed(RuntimeError):
    """A repetition crashed, timed out or returned something implausible."""


@dataclass(frozen=True)
class Interpreter:
    """The Python that runs one implementation, and where its package must come from."""

    implementation: Implementation
    python: Path
    package_root: Path
    """``azstoragetorch.io`` must be imported from below this folder."""
    sys_path: tuple[Path, ...] = ()
    """Folders the worker puts first on ``sys.path``: the sources of another
    revision, for ``tools.bench.compare``."""


def start(python: Path, *args: str) -> subprocess.Popen[str]:
    """``python -I`` with ``args`` in a fresh process, its output captured."""
    return subprocess.Popen(
        [str(python), "-I", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result_of(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    """The JSON object on the last line ``process`` prints; it is killed on timeout.

    :raises RunFailed: On a timeout, a non-zero exit code, or no JSON result.
    """
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.communicate()
        raise RunFailed(f"timed out after {timeout:.0f} s") from exc
    if process.returncode != 0:
        raise RunFailed(f"exit code {process.returncode}:\n{stderr[-_ERROR_TAIL:]}")
    try:
        return dict(json.loads(stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError) as exc:
        raise RunFailed(f"no result on stdout: {stdout[-_ERROR_TAIL:]!r}") from exc


def run_json(interpreter: Interpreter, args: list[str], timeout: float) -> dict[str, Any]:
    """Run ``args`` with ``interpreter``; return its JSON result, whose ``module`` (the
    ``azstoragetorch`` module it imported) must lie below the interpreter's package root.
    """
    result = result_of(start(interpreter.python, *args), timeout)
    module = Path(result["module"]).resolve()
    if not module.is_relative_to(interpreter.package_root.resolve()):
        raise RunFailed(
            f"{interpreter.implementation} imported azstoragetorch from {module}, "
            f"not from {interpreter.package_root}"
        )
    return result


def run_worker(interpreter: Interpreter, spec: dict[str, Any], timeout: float) -> Measurement:
    """Run ``worker.py`` in a fresh isolated process; return its measurement."""
    if interpreter.sys_path:
        spec = {**spec, "sys_path": [str(path) for path in interpreter.sys_path]}
    result = run_json(interpreter, [str(WORKER), json.dumps(spec)], timeout)
    return Measurement(
        int(result["bytes"]),
        float(result["seconds"]),
        int(result["rss_growth"]),
        _float_or_none(result.get("server_cpu_seconds")),
        _float_or_none(result.get("server_thread_cpu_seconds")),
        _float_or_none(result.get("client_cpu_seconds")),
    )


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def curl_path() -> str | None:
    """The curl executable, or None when it is not installed."""
    return shutil.which("curl")


def curl_get(curl: str, url: str, expected: int, timeout: float) -> Measurement:
    """Download ``url`` to ``/dev/null``; curl's own clock times the transfer."""
    return _curl(
        [curl, "--output", "/dev/null", "--write-out", "%{size_download} %{time_total}", url],
        expected,
        timeout,
    )


def curl_put(curl: str, url: str, source: Path, timeout: float) -> Measurement:
    """Upload ``source`` as a block blob with one Put Blob request."""
    command = [
        curl, "--request", "PUT", "--upload-file", str(source),
        "--header", "x-ms-blob-type: BlockBlob",
        "--header", "Expect:",  # no wait for "100 Continue" before the body
        "--output", "/dev/null", "--write-out", "%{size_upload} %{time_total}", url,
    ]  # fmt: skip
    return _curl(command, source.stat().st_size, timeout)


def _curl(command: list[str], expected: int, timeout: float) -> Measurement:
    full = [command[0], "--silent", "--show-error", "--fail", "--max-time", f"{timeout:.0f}"]
    try:
        done = subprocess.run(
            full + command[1:],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout + 30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RunFailed(f"curl timed out after {exc.timeout:.0f} s") from exc
    if done.returncode != 0:
        raise RunFailed(f"curl exit code {done.returncode}: {done.stderr.strip()[-_ERROR_TAIL:]}")
    size_text, seconds_text = done.stdout.split()
    size = int(float(size_text))
    if size != expected:
        raise RunFailed(f"curl moved {size} bytes, expected {expected}")
    return Measurement(size, float(seconds_text))
