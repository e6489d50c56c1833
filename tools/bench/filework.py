"""What the file system under a cache directory charges for one copy.

A cold cache writes every blob it reads to a temporary file and renames it into
place. This times that file work alone, with the blob size and the reading
threads of the datasets, so that the cache part can print it beside the epoch
rates: on a disk where creating a file costs more CPU than the 0.9x target
leaves per blob, no cache design reaches the target there.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

FILES = 2_000
THREADS = 8  # the datasets' reading threads per process (read_ahead.MAX_THREADS)


@dataclass(frozen=True)
class FileWork:
    """One timing: files per second and process CPU per file."""

    files_per_second: float
    cpu_us_per_file: float


@dataclass
class FileWorkResults:
    """Timings per directory, one per repetition."""

    found: dict[str, list[FileWork]] = field(default_factory=dict)

    def add(self, where: str, work: FileWork) -> None:
        self.found.setdefault(where, []).append(work)

    def describe(self, where: str) -> str:
        found = self.found.get(where, [])
        cpu = sorted(work.cpu_us_per_file for work in found)
        rates = sorted(work.files_per_second for work in found)
        return (
            f"{where}: {statistics.median(cpu):.0f} µs of CPU per file "
            f"({cpu[0]:.0f}-{cpu[-1]:.0f}), {statistics.median(rates):,.0f} files/s "
            f"({rates[0]:,.0f}-{rates[-1]:,.0f})"
        )


def measure(directory: Path, blob_bytes: int, files: int = FILES) -> FileWork:
    """Create, write, rename and close ``files`` files of ``blob_bytes`` in ``directory``.

    ``THREADS`` threads share the work, as a dataset's reading threads do. The
    process CPU over the loop counts every thread; the caller runs nothing else
    meanwhile.
    """
    payload = os.urandom(blob_bytes)
    work = Path(tempfile.mkdtemp(prefix="filework-", dir=directory))

    def copy_files(indexes: range) -> None:
        for index in indexes:
            temporary = work / f".{index:06d}.tmp"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(descriptor, payload)
            finally:
                os.close(descriptor)
            os.replace(temporary, work / f"{index:06d}")

    threads = [
        threading.Thread(target=copy_files, args=(range(start, files, THREADS),))
        for start in range(THREADS)
    ]
    try:
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - wall_start
        cpu = time.process_time() - cpu_start
        written = sum(1 for _ in work.iterdir())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if written != files:
        raise RuntimeError(f"the file-work loop wrote {written} files of {files} in {directory}")
    return FileWork(files_per_second=files / wall, cpu_us_per_file=cpu / files * 1e6)


def budget_us(no_cache_rate: float, target: float) -> float:
    """Microseconds per blob a cache may add and still read at ``target`` of ``no_cache_rate``."""
    return (1 / target - 1) / no_cache_rate * 1e6
