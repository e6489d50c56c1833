"""A gloo process group on 127.0.0.1, for the ranks that multi-process tests start."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


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
