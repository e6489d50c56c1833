"""torch.save and torch.load through BlobIO, in every format and option users pick."""

import pytest
import torch

from azstoragetorch.io import BlobIO


def state():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return {"model": model.state_dict(), "step": 7, "name": "ckpt"}


def assert_same(a, b):
    assert a["step"] == b["step"]
    assert a["name"] == b["name"]
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key])


@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("weights_only", [True, False])
def test_save_and_load_round_trip(blob_url, key, zipfile, weights_only):
    original = state()
    with BlobIO(blob_url, "wb", credential=key) as f:
        torch.save(original, f, _use_new_zipfile_serialization=zipfile)
    with BlobIO(blob_url, "rb", credential=key) as f:
        loaded = torch.load(f, weights_only=weights_only)
    assert_same(original, loaded)


def test_load_with_map_location(blob_url, key):
    with BlobIO(blob_url, "wb", credential=key) as f:
        torch.save({"w": torch.arange(10.0)}, f)
    with BlobIO(blob_url, "rb", credential=key) as f:
        loaded = torch.load(f, map_location="cpu", weights_only=True)
    assert torch.equal(loaded["w"], torch.arange(10.0))
    with BlobIO(blob_url, "rb", credential=key) as f:
        loaded = torch.load(f, map_location=lambda storage, location: storage)
    assert torch.equal(loaded["w"], torch.arange(10.0))


def test_a_checkpoint_of_many_small_tensors_loads_in_a_handful_of_requests(blob_url, key, recorder):
    # About 8 MB in 300 tensors: upstream 0.2.0 makes 1 HEAD and 619 GETs for this.
    tensors = {f"layer{i}": torch.randn(6_700) for i in range(300)}
    with BlobIO(blob_url, "wb", credential=key) as f:
        torch.save(tensors, f)
    recorder.requests.clear()
    with BlobIO(blob_url, "rb", credential=key) as f:
        loaded = torch.load(f, weights_only=True)
    assert all(torch.equal(tensors[k], loaded[k]) for k in tensors)
    assert recorder.count("GET") <= 4
    assert recorder.count("HEAD") == 0
