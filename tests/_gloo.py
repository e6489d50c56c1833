"""Real gloo process groups on 127.0.0.1, for the multi-process tests.

``run_ranks(target, world_size, azurite, *args)`` starts ``world_size`` processes
with ``spawn``; each joins one gloo group and calls
``target(rank, world_size, credential, *args)`` with the emulator's account key as
an ``AzureNamedKeyCredential``. ``target`` must be a module-level function of a
module children can import by name (one on pytest's ``pythonpath``).

Each rank then starts its own processes (DataLoader workers) the way a rank that
``torchrun`` launched would: with the platform's default start method, not the
``spawn`` that started the rank. A test that wants spawned workers asks for them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
from collections.abc import Callable, Iterator
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def gloo_group(rank: int, world_size: int, port: int) -> Iterator[None]:
    """Join the group as ``rank`` for the ``with`` block; always leave it."""
    import torch.distributed

    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        yield
    finally:
        torch.distributed.destroy_process_group()


def run_ranks(target: Callable[..., None], world_size: int, azurite: Any, *args: Any) -> None:
    """Run ``target`` on every rank of a new gloo group; raises if any rank failed."""
    import torch.multiprocessing

    torch.multiprocessing.spawn(
        _rank,
        args=(target, world_size, free_port(), azurite.account_name, azurite.account_key, args),
        nprocs=world_size,
        join=True,
    )


def _rank(
    rank: int,
    target: Callable[..., None],
    world_size: int,
    port: int,
    account: str,
    key: str,
    args: tuple[Any, ...],
) -> None:
    from azure.core.credentials import AzureNamedKeyCredential

    as_if_launched()
    with gloo_group(rank, world_size, port):
        target(rank, world_size, AzureNamedKeyCredential(account, key), *args)


def as_if_launched() -> None:
    """In a spawned child: start further processes with the platform's default method,
    as a process launched from a shell would, not with the ``spawn`` it inherited.

    Each spawned DataLoader worker imports torch anew, seconds each on a small machine.
    """
    multiprocessing.set_start_method(None, force=True)
