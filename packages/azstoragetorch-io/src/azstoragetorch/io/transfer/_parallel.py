"""Running one job per file on a bounded pool of threads, stopping on a fatal error."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Sequence

__all__ = ["run_jobs"]


def run_jobs(jobs: Sequence[Callable[[], None]], concurrency: int) -> None:
    """Run ``jobs`` on at most ``concurrency`` threads.

    A job reports its own file's failure and returns; an exception that escapes a
    job is fatal (it would fail every file, such as a refused credential): jobs
    not yet started are dropped, those running finish, and the first such
    exception is raised.
    """
    stop = threading.Event()

    def guarded(job: Callable[[], None]) -> None:
        if stop.is_set():
            return
        try:
            job()
        except BaseException:
            stop.set()
            raise

    if not jobs:
        return
    workers = min(concurrency, len(jobs))
    with concurrent.futures.ThreadPoolExecutor(workers, "azstoragetorch-transfer") as pool:
        futures = [pool.submit(guarded, job) for job in jobs]
        try:
            concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
        except BaseException:
            # Interrupted (Ctrl-C): start nothing more; running jobs finish or abort.
            stop.set()
            raise
        finally:
            if stop.is_set():
                for future in futures:
                    future.cancel()
    for future in futures:
        if not future.cancelled() and future.exception() is not None:
            raise future.exception()  # type: ignore[misc]
