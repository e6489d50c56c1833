"""Running the installers the tools need: one command at a time, its output kept.

``tools/azurite.py`` installs Azurite with ``npm ci``; ``tools/bench`` builds the
upstream environment with pip. Both run a long command with a deadline, its output
in a log file whose tail goes into the error, and serialise concurrent installs on a
lock file. The standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

_TAIL_BYTES = 4000


class CommandTimedOut(RuntimeError):
    """The command ran past its deadline and was killed."""


def run_logged(
    command: Sequence[str],
    log: Path,
    timeout: float,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``command`` with no input, its stdout and stderr into ``log``; its exit code.

    :raises CommandTimedOut: When it did not finish within ``timeout`` seconds.
    """
    with log.open("wb") as out:
        try:
            done = subprocess.run(
                list(command),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CommandTimedOut(
                f"{os.path.basename(command[0])} timed out after {timeout:.0f} s"
            ) from exc
    return done.returncode


def tail(path: Path, size: int = _TAIL_BYTES) -> str:
    """The last ``size`` bytes of a log, as text; a note when there is none."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"(no log: {exc})"
    return data[-size:].decode("utf-8", "replace")


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
