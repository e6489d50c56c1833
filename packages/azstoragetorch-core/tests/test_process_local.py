"""Values made once per process, and what a forked child sees of them."""

import os
import warnings

from azstoragetorch._core._process_local import ProcessLocal, process_id


def test_a_forked_child_makes_its_own_value_and_knows_its_own_pid():
    made = []
    local = ProcessLocal(lambda: made.append(os.getpid()) or len(made))
    assert local.get() == local.get() == 1  # made once in this process
    assert process_id() == os.getpid()
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
    if pid == 0:
        try:
            fresh = local.existing() is None and local.get() == 2
            mine = process_id() == os.getpid() and made[-1] == os.getpid()
            os.write(write, b"ok" if fresh and mine else b"no")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 2)
    os.waitpid(pid, 0)
    assert answer == b"ok"
    assert local.get() == 1  # the parent's value is untouched
