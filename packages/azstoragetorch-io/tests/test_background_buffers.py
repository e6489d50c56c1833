"""The snapshot of a background save copies into the last save's tensors where they fit."""

import torch

from azstoragetorch.io._background import _Buffers, _snapshot


def test_a_snapshot_owns_its_tensors_and_keeps_shared_ones_shared():
    shared = torch.arange(6.0)
    state = {"a": shared, "b": shared, "nested": {"c": [torch.ones(2)]}, "step": 4}
    buffers = _Buffers()
    copy = _snapshot(state, buffers)
    shared.add_(100)
    assert torch.equal(copy["a"], torch.arange(6.0))
    assert copy["a"] is copy["b"]
    assert copy["step"] == 4
    assert torch.equal(copy["nested"]["c"][0], torch.ones(2))


def test_the_next_snapshot_copies_into_tensors_of_the_same_dtype_and_shape():
    state = {"w": torch.zeros(4, 4), "b": torch.zeros(4)}
    buffers = _Buffers()
    first = _snapshot(state, buffers)
    pointers = {name: t.data_ptr() for name, t in first.items()}
    del first
    state["w"].fill_(2.0)
    second = _snapshot(state, buffers)
    assert {name: t.data_ptr() for name, t in second.items()} == pointers
    assert torch.equal(second["w"], torch.full((4, 4), 2.0))


def test_tensors_that_do_not_fit_get_new_memory():
    buffers = _Buffers()
    _snapshot({"w": torch.zeros(4, 4)}, buffers)
    old = buffers._free[(torch.float32, (4, 4))][0].data_ptr()
    changed = {"w": torch.zeros(4, 4, dtype=torch.float64), "v": torch.zeros(8, 2).t()}
    copy = _snapshot(changed, buffers)
    assert copy["w"].dtype == torch.float64
    assert copy["w"].data_ptr() != old
    assert copy["v"].shape == (2, 8)
    assert copy["v"].data_ptr() != old
    # Only what the last snapshot used is kept.
    assert set(buffers._free) == {(torch.float64, (4, 4)), (torch.float32, (2, 8))}


def test_take_moves_the_kept_tensors_and_keep_replaces_them():
    spare = _Buffers()
    used = _Buffers()
    _snapshot({"w": torch.zeros(3)}, used)
    spare.keep(used)
    assert used._free == {}
    assert (torch.float32, (3,)) in spare._free
    taken = spare.take()
    assert spare._free == {}
    assert (torch.float32, (3,)) in taken._free
