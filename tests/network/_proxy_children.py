"""What each DCP rank runs behind the proxy (spawn imports it by name)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def credential_from(recipe: list[str]) -> Any:
    if recipe[0] == "key":
        from azure.core.credentials import AzureNamedKeyCredential

        return AzureNamedKeyCredential(recipe[1], recipe[2])
    import azurite
    from _azurite_credentials import StaticTokenCredential

    return StaticTokenCredential(azurite.make_oauth_token())


def save_and_load(
    rank: int, world_size: int, port: int, url: str, recipe: list[str], out_dir: str
) -> None:
    import torch
    import torch.distributed.checkpoint as dcp
    from _gloo import gloo_group

    from azstoragetorch.io.dcp import BlobStorageReader, BlobStorageWriter

    credential = credential_from(recipe)
    state = {"w": torch.arange(1000, dtype=torch.float32), "step": 3}
    with gloo_group(rank, world_size, port):
        dcp.save(state, storage_writer=BlobStorageWriter(url, credential=credential))
        loaded = {"w": torch.zeros(1000), "step": 0}
        dcp.load(loaded, storage_reader=BlobStorageReader(url, credential=credential))
    report = {"equal": bool(torch.equal(loaded["w"], state["w"])), "step": loaded["step"]}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))
