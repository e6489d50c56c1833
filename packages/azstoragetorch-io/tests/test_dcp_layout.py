"""The raw-memory view that DCP reads and writes tensors through."""

import gc
import weakref

import torch

from azstoragetorch.io.dcp._layout import tensor_memory


def test_the_view_is_the_tensors_memory_and_writes_reach_the_tensor():
    tensor = torch.zeros(4, dtype=torch.int32)
    view = tensor_memory(tensor)
    assert view.nbytes == 16
    view[4:8] = (7).to_bytes(4, "little")
    assert tensor.tolist() == [0, 7, 0, 0]


def test_the_view_and_its_slices_keep_the_tensor_alive():
    tensor = torch.zeros(1024, dtype=torch.uint8)
    alive = weakref.ref(tensor)
    part = tensor_memory(tensor)[512:]
    del tensor
    gc.collect()
    assert alive() is not None  # a thread writing through ``part`` writes into live memory
    part[:3] = b"abc"
    assert bytes(alive()[512:515].tolist()) == b"abc"
    del part
    gc.collect()
    assert alive() is None


def test_an_empty_tensor_has_an_empty_view():
    assert tensor_memory(torch.empty(0)).nbytes == 0
