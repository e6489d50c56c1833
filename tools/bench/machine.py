"""A description of the machine and software a run measured."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

from .plan import GIB


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or what ``platform`` knows)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown CPU"


def memory_gib() -> float | None:
    """Total RAM in GiB from ``/proc/meminfo``."""
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 / GIB if match else None


def curl_version(curl: str | None) -> str:
    """``curl 7.88.1`` or ``not installed``."""
    if curl is None:
        return "not installed"
    try:
        first = subprocess.run(
            [curl, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.split("\n", 1)[0]
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return " ".join(first.split()[:2]) or "unknown"


def load_average() -> float | None:
    """The 1-minute load average (other work on the machine skews results)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def busy_warning(loads: list[float]) -> str | None:
    """A warning when the load average shows other work during the run.

    The benchmark itself keeps Azurite and a client with a few busy threads
    runnable, which can count for up to about two more than the core count.
    """
    cores = os.cpu_count() or 1
    if not loads or max(loads) <= cores + 2:
        return None
    return (
        f"Other work shared the machine (1-minute load average up to {max(loads):.1f} "
        f"on {cores} cores): expect wide min-max ranges; the medians are the fairer guide."
    )


def load_summary(loads: list[float]) -> str:
    """``first 1.20, highest 3.40, last 2.00`` over the samples taken during a run."""
    if not loads:
        return "unknown"
    return f"first {loads[0]:.2f}, highest {max(loads):.2f}, last {loads[-1]:.2f}"


def describe(
    *, torch_version: str, azurite_version: str, upstream: str, curl: str | None, load: str
) -> list[tuple[str, str]]:
    """(label, value) pairs for the report; ``load`` is :func:`load_summary`'s text."""
    memory = memory_gib()
    cores = os.cpu_count() or 0
    return [
        ("CPU", f"{cpu_model()}, {cores} logical cores"),
        ("RAM", f"{memory:.1f} GiB" if memory is not None else "unknown"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("torch", torch_version),
        ("Azurite", azurite_version),
        ("upstream", upstream),
        ("curl", curl_version(curl)),
        ("1-minute load average during the run", load),
    ]
