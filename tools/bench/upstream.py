"""The virtual environment holding the upstream release we compare against.

It lives in ``.benchmarks/upstream-venv`` (git-ignored) and is built once with pip:
``azstoragetorch==0.2.0`` from PyPI and ``torch==2.13.0``, the torch of the
development environment. Later runs reuse it after checking that it still imports
exactly those versions from inside the virtual environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path

from .rig import processes

UPSTREAM_VERSION = "0.2.0"
TORCH_VERSION = "2.13.0"
REQUIREMENTS = (f"azstoragetorch=={UPSTREAM_VERSION}", f"torch=={TORCH_VERSION}")
PIP_TIMEOUT_S = 1800.0

# Run by the candidate interpreter: which versions does it import, and from where?
_PROBE = """
import importlib.metadata as metadata, json
import azstoragetorch.io, torch
print(json.dumps({
    "azstoragetorch": metadata.version("azstoragetorch"),
    "torch": torch.__version__,
    "module": azstoragetorch.io.__file__,
}))
"""


class UpstreamError(RuntimeError):
    """The upstream environment could not be built; the message says why."""


def python_of(venv_dir: Path) -> Path:
    """The interpreter of a virtual environment."""
    return venv_dir / "bin" / "python"


def describe(venv_dir: Path) -> dict[str, str] | None:
    """Versions and module path the environment imports, or None when it is unusable."""
    python = python_of(venv_dir)
    if not python.exists():
        return None
    try:
        probe = subprocess.run(
            [str(python), "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        found = json.loads(probe.stdout.strip().splitlines()[-1]) if probe.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None
    return {str(k): str(v) for k, v in found.items()} or None


def is_valid(venv_dir: Path, found: dict[str, str] | None) -> bool:
    """Whether ``found`` (from :func:`describe`) is the upstream release from this venv."""
    return (
        found is not None
        and found.get("azstoragetorch") == UPSTREAM_VERSION
        and found.get("torch", "").split("+")[0] == TORCH_VERSION
        and Path(found.get("module", "/")).resolve().is_relative_to(venv_dir.resolve())
    )


def ensure(venv_dir: Path, log: Path) -> dict[str, str]:
    """Build the environment unless a valid one is there; return what it imports.

    Serialised with a lock file so two benchmark runs do not build it at once.
    """
    venv_dir.parent.mkdir(parents=True, exist_ok=True)
    with processes.exclusive_lock(venv_dir.parent / ".upstream-venv.lock"):
        found = describe(venv_dir)
        if is_valid(venv_dir, found):
            assert found is not None
            return found
        print(f"Building {venv_dir} with {' '.join(REQUIREMENTS)} (once) ...", flush=True)
        shutil.rmtree(venv_dir, ignore_errors=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        _pip_install(venv_dir, log)
        found = describe(venv_dir)
        if not is_valid(venv_dir, found):
            raise UpstreamError(f"{venv_dir} does not import the upstream release: {found}")
        assert found is not None
        return found


def _pip_install(venv_dir: Path, log: Path) -> None:
    command = [
        str(python_of(venv_dir)), "-m", "pip", "install",
        "--disable-pip-version-check", "--no-input", *REQUIREMENTS,
    ]  # fmt: skip
    try:
        code = processes.run_logged(command, log, PIP_TIMEOUT_S)
    except processes.CommandTimedOut as exc:
        raise UpstreamError(str(exc)) from exc
    if code != 0:
        raise UpstreamError(
            f"pip install into {venv_dir} failed (log {log}):\n{processes.tail(log, 3000)}"
        )
