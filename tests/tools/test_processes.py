"""tools/processes.py: the logged, bounded command the installers run, and its lock."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import processes
import pytest


def test_a_command_s_output_goes_to_the_log_and_its_exit_code_is_returned(
    tmp_path: Path,
) -> None:
    log = tmp_path / "out.log"
    script = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)"

    code = processes.run_logged([sys.executable, "-c", script], log, timeout=60)

    assert code == 3
    assert "to stdout" in processes.tail(log)
    assert "to stderr" in processes.tail(log)


def test_a_command_past_its_deadline_is_killed_and_reported(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(processes.CommandTimedOut, match="timed out after 1 s"):
        processes.run_logged(
            [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log", timeout=1
        )
    assert time.monotonic() - started < 30


def test_the_tail_of_a_missing_log_says_so(tmp_path: Path) -> None:
    assert processes.tail(tmp_path / "none").startswith("(no log: ")
    (tmp_path / "long").write_bytes(b"x" * 10 + b"end")
    assert processes.tail(tmp_path / "long", 3) == "end"
