"""Values made once per process: connection pools, thread pools, the default credential.

A forked child must never use its parent's sockets or threads, and a lock held by
one of the parent's threads at fork time would stay locked in the child forever.
So each value is tagged with the PID that made it, and every holder is emptied in
a child right after ``fork``. This process's PID is kept in a variable that the same
hook updates, so that a hot path asking for its value makes no system call.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["ProcessLocal", "process_id"]

_T = TypeVar("_T")


class ProcessLocal(Generic[_T]):
    """Holds one value per process, made by ``factory`` on first use."""

    def __init__(self, factory: Callable[[], _T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._value: tuple[int, _T] | None = None
        _holders.add(self)

    def get(self) -> _T:
        """This process's value, made now if this process has none yet."""
        pid = _pid
        value = self._value
        if value is not None and value[0] == pid:
            return value[1]
        with self._lock:
            if self._value is None or self._value[0] != pid:
                self._value = (pid, self._factory())
            return self._value[1]

    def existing(self) -> _T | None:
        """This process's value if it has made one; never makes it."""
        value = self._value
        return value[1] if value is not None and value[0] == _pid else None

    def reset(self) -> None:
        """Forget the value: the next :meth:`get` makes a new one."""
        self._lock = threading.Lock()
        self._value = None


_holders: weakref.WeakSet[ProcessLocal[Any]] = weakref.WeakSet()
_pid = os.getpid()


def process_id() -> int:
    """This process's PID, without a system call (``os.getpid()`` makes one)."""
    return _pid


def _reset_all_after_fork() -> None:
    global _pid
    _pid = os.getpid()
    for holder in list(_holders):
        holder.reset()


os.register_at_fork(after_in_child=_reset_all_after_fork)
